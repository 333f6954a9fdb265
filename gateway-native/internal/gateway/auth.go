package gateway

// Endpoint credentials, as src/mlkube/gateway/auth.py defines them: a primary and a
// secondary key that never expire, and a token signing key for aml_token endpoints,
// whose tokens are compact JWTs (HS256) bound to the endpoint name and expiring
// (EndpointAuthToken's access_token). Credentials are compared in constant time and
// never appear in a message.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

var keyFields = []string{"primary_key", "secondary_key", "token_signing_key"}

// Keys are one endpoint's secrets. String hides them so a log line cannot leak them.
type Keys struct {
	Primary, Secondary, TokenSigning string
}

func (k Keys) String() string {
	return "EndpointKeys(primary_key=***, secondary_key=***, token_signing_key=***)"
}

// Fingerprint names which keys these are without revealing them (EndpointKeys.fingerprint).
func (k Keys) Fingerprint() string {
	material := k.Primary + "\x00" + k.Secondary + "\x00" + k.TokenSigning
	sum := sha256.Sum256([]byte("mlkube-endpoint-keys\x00" + material))
	return hex.EncodeToString(sum[:])[:16]
}

// LoadKeys parses a keys file; the error names the missing field, never a value.
func LoadKeys(text []byte, source string) (Keys, error) {
	var data map[string]any
	if err := json.Unmarshal(text, &data); err != nil {
		var anything any
		if json.Unmarshal(text, &anything) == nil {
			return Keys{}, errValidation(source+" must hold one JSON object",
				"Write the three keys as a JSON object.")
		}
		return Keys{}, errValidation(source+" is not JSON",
			`Write {"primary_key": ..., "secondary_key": ..., "token_signing_key": ...}; `+
				"`mlkube online-endpoint regenerate-keys` rewrites it.")
	}
	values := make([]string, len(keyFields))
	for i, name := range keyFields {
		value, ok := data[name].(string)
		if !ok || runeCount(value) < 16 {
			return Keys{}, errValidation(source+": "+name+" is missing or shorter than 16 characters",
				"Regenerate the endpoint's keys so the file holds all three.")
		}
		values[i] = value
	}
	return Keys{values[0], values[1], values[2]}, nil
}

const tokenHint = "Get a fresh token with `mlkube online-endpoint get-credentials` " +
	"(ml_client.online_endpoints.get_keys) and send it as 'Bearer <token>'."

var jwtHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// IssueToken signs a token for endpoint valid for ttl (auth.issue_token's format).
func IssueToken(signingKey, endpoint string, ttl time.Duration, now time.Time) string {
	issued := now.Unix()
	expiry := issued + max(1, int64(ttl.Seconds()))
	claims := fmt.Sprintf(`{"aud":%s,"iat":%d,"exp":%d,"iss":"mlkube"}`, quoteJSON(endpoint), issued, expiry)
	signingInput := jwtHeader + "." + base64.RawURLEncoding.EncodeToString([]byte(claims))
	return signingInput + "." + base64.RawURLEncoding.EncodeToString(sign(signingKey, []byte(signingInput)))
}

// VerifyToken returns nil when token is signed by signingKey for endpoint and not
// expired at now; otherwise the 401 saying which of these failed.
func VerifyToken(signingKey, token, endpoint string, now time.Time) error {
	// Nothing of a token is parsed before its signature is checked: until then its
	// claims are attacker-chosen bytes.
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return errUnauthorized("The bearer token is malformed.", tokenHint)
	}
	signature, err := decodeSegment(parts[2])
	if err != nil {
		return errUnauthorized("The bearer token is malformed.", tokenHint)
	}
	if !hmac.Equal(signature, sign(signingKey, []byte(parts[0]+"."+parts[1]))) {
		return errUnauthorized("The bearer token's signature is not valid for this endpoint.", tokenHint)
	}
	payload, err := decodeSegment(parts[1])
	if err != nil {
		return errUnauthorized("The bearer token is malformed.", tokenHint)
	}
	decoder := json.NewDecoder(bytes.NewReader(payload))
	decoder.UseNumber()
	var claims any
	if decoder.Decode(&claims) != nil {
		return errUnauthorized("The bearer token is malformed.", tokenHint)
	}
	object, ok := claims.(map[string]any)
	if audience, isString := object["aud"].(string); !ok || !isString || audience != endpoint {
		return errUnauthorized("The bearer token was issued for another endpoint.", tokenHint)
	}
	expiry, isInt := asInt(object["exp"])
	if !isInt || float64(expiry) <= float64(now.UnixNano())/1e9 {
		return errUnauthorized("The bearer token has expired.", tokenHint)
	}
	return nil
}

// decodeSegment decodes URL-safe base64 with or without padding.
func decodeSegment(segment string) ([]byte, error) {
	return base64.RawURLEncoding.DecodeString(strings.TrimRight(segment, "="))
}

func sign(key string, data []byte) []byte {
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write(data)
	return mac.Sum(nil)
}

func quoteJSON(s string) string {
	var b strings.Builder
	writeJSONString(&b, s, false)
	return b.String()
}

// Authenticator checks the Authorization header against one endpoint's credentials;
// built once per (config, keys) load, so a request only compares bytes.
type Authenticator struct {
	mode       string
	endpoint   string
	primary    []byte
	secondary  []byte
	signingKey string
}

// NewAuthenticator for the endpoint's auth mode and keys.
func NewAuthenticator(mode, endpoint string, keys Keys) *Authenticator {
	return &Authenticator{mode: mode, endpoint: endpoint, primary: []byte(keys.Primary),
		secondary: []byte(keys.Secondary), signingKey: keys.TokenSigning}
}

// Check returns nil if authorization carries a valid credential, else the 401.
func (a *Authenticator) Check(authorization string, present bool, now time.Time) error {
	name := "key"
	if a.mode == "aml_token" {
		name = "token"
	}
	if !present || authorization == "" {
		return errUnauthorized("The request has no Authorization header.",
			fmt.Sprintf("Send 'Authorization: Bearer <%s>'; `mlkube online-endpoint get-credentials -n %s` prints it.", name, a.endpoint))
	}
	scheme, credential, _ := strings.Cut(strings.TrimSpace(authorization), " ")
	credential = strings.TrimSpace(credential)
	if !strings.EqualFold(scheme, "bearer") || credential == "" {
		return errUnauthorized("The Authorization header is not of the form 'Bearer <credential>'.",
			fmt.Sprintf("Send 'Authorization: Bearer <%s>'.", name))
	}
	if a.mode == "aml_token" {
		return VerifyToken(a.signingKey, credential, a.endpoint, now)
	}
	// Both comparisons always run, so timing says nothing about which key matched.
	primary := subtle.ConstantTimeCompare([]byte(credential), a.primary)
	secondary := subtle.ConstantTimeCompare([]byte(credential), a.secondary)
	if primary|secondary == 0 {
		return errUnauthorized("The key in the Authorization header is not valid for this endpoint.",
			fmt.Sprintf("Use the current primary or secondary key: `mlkube online-endpoint get-credentials -n %s` (keys change when regenerated).", a.endpoint))
	}
	return nil
}

package gateway

import (
	"strings"
	"testing"
	"time"
)

// A token issued by the Python gateway (mlkube.gateway.issue_token) with signing key
// "s"*32 for endpoint "iris" at 1,800,000,000 for one hour.
const pythonToken = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJpcmlzIiwiaWF0IjoxODAwMDAwMDAwLCJleHAiOjE4MDAwMDM2MDAsImlzcyI6Im1sa3ViZSJ9.LNvOJB1vkYlxOYja8cz8cTcUZBAY2uQU9jyycjCWj9I"

var signingKey = strings.Repeat("s", 32)

func TestPythonTokenVerifiesUntilItExpires(t *testing.T) {
	issued := time.Unix(1_800_000_000, 0)
	if err := VerifyToken(signingKey, pythonToken, "iris", issued.Add(59*time.Minute)); err != nil {
		t.Fatalf("a fresh token was refused: %v", err)
	}
	expectRefusal(t, VerifyToken(signingKey, pythonToken, "iris", issued.Add(time.Hour)), "has expired")
	expectRefusal(t, VerifyToken(signingKey, pythonToken, "other", issued), "another endpoint")
	expectRefusal(t, VerifyToken(strings.Repeat("x", 32), pythonToken, "iris", issued), "signature is not valid")
}

func TestIssuedTokenIsThePythonOne(t *testing.T) {
	if got := IssueToken(signingKey, "iris", time.Hour, time.Unix(1_800_000_000, 0)); got != pythonToken {
		t.Errorf("IssueToken = %s, the Python gateway issues %s", got, pythonToken)
	}
}

func TestTamperedOrMalformedTokensAreRefused(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	parts := strings.Split(pythonToken, ".")
	forged := parts[0] + "." + strings.TrimRight(parts[1], "J9") + "x." + parts[2]
	for _, token := range []string{"a.b.c", "....", "no-dots", forged, parts[0] + "." + parts[1] + ".%%%"} {
		err := VerifyToken(signingKey, token, "iris", now)
		if err == nil {
			t.Errorf("%q was accepted", token)
			continue
		}
		if gwErr := err.(*Error); gwErr.Status != 401 || strings.Contains(gwErr.Message, token) {
			t.Errorf("%q: %d %s", token, gwErr.Status, gwErr.Message)
		}
	}
}

func TestAuthenticatorTakesEitherKeyAndNeverEchoesOne(t *testing.T) {
	keys := Keys{strings.Repeat("p", 20), strings.Repeat("q", 20), signingKey}
	auth := NewAuthenticator("key", "iris", keys)
	now := time.Now()
	for _, header := range []string{"Bearer " + keys.Primary, "bearer " + keys.Secondary, "  Bearer   " + keys.Primary + " "} {
		if err := auth.Check(header, true, now); err != nil {
			t.Errorf("%q refused: %v", header, err)
		}
	}
	expectRefusal(t, auth.Check("", false, now), "no Authorization header")
	expectRefusal(t, auth.Check(keys.Primary, true, now), "not of the form")
	err := auth.Check("Bearer wrong-key-0123456789", true, now)
	expectRefusal(t, err, "not valid for this endpoint")
	if strings.Contains(string(err.(*Error).Body()), "wrong-key") {
		t.Error("the refused key is echoed")
	}
	tokens := NewAuthenticator("aml_token", "iris", keys)
	expectRefusal(t, tokens.Check("Bearer "+keys.Primary, true, now), "malformed")
}

func TestKeysFileErrorsNameTheFieldNotTheValue(t *testing.T) {
	_, err := LoadKeys([]byte(`{"primary_key":"short-secret","secondary_key":"`+strings.Repeat("b", 16)+`"}`), "keys file k")
	gwErr, ok := err.(*Error)
	if !ok || !strings.Contains(gwErr.Message, "primary_key is missing or shorter than 16") || strings.Contains(gwErr.Message, "short-secret") {
		t.Errorf("got %v", err)
	}
	keys, err := LoadKeys([]byte(`{"primary_key":"`+strings.Repeat("a", 16)+`","secondary_key":"`+strings.Repeat("b", 16)+`","token_signing_key":"`+strings.Repeat("c", 16)+`"}`), "k")
	if err != nil {
		t.Fatal(err)
	}
	// EndpointKeys.fingerprint of the same keys, from the Python gateway.
	if keys.Fingerprint() != "5a83bd58bdf1b8f6" {
		t.Errorf("fingerprint %s", keys.Fingerprint())
	}
	if strings.Contains(keys.String(), "aaaa") {
		t.Error("String shows a key")
	}
}

func expectRefusal(t *testing.T, err error, words string) {
	t.Helper()
	gwErr, ok := err.(*Error)
	if !ok || gwErr.Status != 401 || gwErr.Code != "UNAUTHORIZED" || !strings.Contains(gwErr.Message, words) {
		t.Errorf("got %v, want a 401 saying %q", err, words)
	}
}

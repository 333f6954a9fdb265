package gateway

// The gateway's own HTTP/1.1 server, in place of net/http's: it answers every refusal
// in mlkube's JSON error shape with connection: close, as mlkube.http_protocol does for
// the Python gateway (a head over max_head_bytes is 431, a head not complete in time
// 408, an unparsable one 400), and it costs fewer syscalls and allocations per request
// (no background read per request, one write per answer), which is what the gateway
// adds to every scoring call. It speaks only what the gateway needs: HTTP/1.0 and 1.1,
// keep-alive, pipelining, Content-Length and chunked bodies, Expect: 100-continue.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Request is one parsed request head; the body is read on demand with ReadBody.
type Request struct {
	Method        string
	Target        string // the request-target as sent: path and query, forwarded unchanged
	Path          string // the path without the query, percent-decoded
	Headers       []Header
	ContentLength int64 // -1 when chunked
	Chunked       bool
	Expect100     bool
	closeAfter    bool
	conn          *serverConn
	bodyRead      bool
}

// HasBody tells whether the request announced a body.
func (r *Request) HasBody() bool { return r.Chunked || r.ContentLength > 0 }

// ReadBody reads the whole body, at most limit bytes (errBodyTooLarge past it); a
// client that waits for "100 Continue" gets it now.
func (r *Request) ReadBody(limit int64) ([]byte, error) {
	r.bodyRead = true
	if !r.HasBody() {
		return nil, nil
	}
	c := r.conn
	if r.Expect100 {
		if _, err := c.conn.Write([]byte("HTTP/1.1 100 Continue\r\n\r\n")); err != nil {
			return nil, err
		}
	}
	_ = c.conn.SetReadDeadline(time.Time{}) // the body has the request timeout's pace
	if !r.Chunked {
		if r.ContentLength > limit {
			return nil, errBodyTooLarge
		}
		body := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(c.reader, body); err != nil {
			return nil, err
		}
		return body, nil
	}
	return readChunked(c.reader, limit)
}

// Answer is what a handler writes back.
type Answer struct {
	Status  int
	Headers []Header
	Body    []byte
	// HeadLength is the content-length a HEAD answer declares ("" for none).
	HeadLength string
	Close      bool
}

// Handler serves one request: it calls respond once, then may go on (mirroring,
// counting) while the client already has its answer.
type Handler func(r *Request, respond func(*Answer))

// Server serves Handler over HTTP/1.1 connections.
type Server struct {
	Handler        Handler
	MaxHeadBytes   int
	HeadTimeout    time.Duration
	KeepAlive      time.Duration
	MaxConnections int
	Logger         *Logger
}

// Serve accepts connections until the listener closes.
func (s *Server) Serve(listener net.Listener) error {
	capped := NewCappedListener(listener, s.MaxConnections, s.MaxHeadBytes)
	for {
		conn, err := capped.Accept()
		if err != nil {
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() {
				time.Sleep(5 * time.Millisecond)
				continue
			}
			return err
		}
		go s.serveConn(conn)
	}
}

type serverConn struct {
	conn   net.Conn
	reader *bufio.Reader
	out    []byte
}

var errHeadTimeout = errors.New("head timeout")

func (s *Server) serveConn(raw net.Conn) {
	defer raw.Close()
	if tcp, ok := underlyingTCP(raw); ok {
		_ = tcp.SetNoDelay(true)
		raw = newSocketConn(raw, tcp)
	}
	c := &serverConn{conn: raw, reader: bufio.NewReaderSize(raw, 16384)}
	// The first head's deadline runs from the connection's start: a client that
	// connects and sends nothing is closed at it too.
	deadline := time.Now().Add(s.HeadTimeout)
	for {
		_ = raw.SetReadDeadline(deadline)
		request, refusal, started := s.readHead(c)
		if refusal != nil {
			if started {
				s.Logger.Logf(LevelInfo, "Refused a request from %s with %d: %s", raw.RemoteAddr(), refusal.Status, refusal.Message)
				s.writeRefusal(c, refusal)
			}
			return
		}
		answered := false
		s.Handler(request, func(a *Answer) {
			answered = true
			if request.closeAfter {
				a.Close = true
			}
			if !request.bodyRead && request.HasBody() && !a.Close {
				// Answered without reading the body: drop it to keep the connection,
				// unless it is large (then the connection ends with the answer).
				if request.Chunked || request.ContentLength > 1<<20 {
					a.Close = true
				}
			}
			c.writeAnswer(request, a)
		})
		if !answered || request.closeAfter {
			return
		}
		if !request.bodyRead && request.HasBody() {
			if request.Chunked || request.ContentLength > 1<<20 {
				return
			}
			_ = raw.SetReadDeadline(time.Now().Add(s.HeadTimeout))
			if _, err := c.reader.Discard(int(request.ContentLength)); err != nil {
				return
			}
		}
		deadline = time.Now().Add(s.KeepAlive)
	}
}

func underlyingTCP(conn net.Conn) (*net.TCPConn, bool) {
	if counted, ok := conn.(*countedConn); ok {
		conn = counted.Conn
	}
	tcp, ok := conn.(*net.TCPConn)
	return tcp, ok
}

// readHead reads and parses one request head. started says whether any byte of it
// came (a connection idle at its deadline is closed without an answer).
func (s *Server) readHead(c *serverConn) (*Request, *Error, bool) {
	if _, err := c.reader.Peek(1); err != nil {
		return nil, &Error{}, false
	}
	if !bytes.Contains(peekBuffered(c.reader), []byte("\r\n\r\n")) {
		// Only a head split over reads gets its own deadline: whole heads cost nothing.
		_ = c.conn.SetReadDeadline(time.Now().Add(s.HeadTimeout))
	}
	var lines [][]byte
	total := 0
	for {
		line, err := c.reader.ReadSlice('\n')
		total += len(line)
		if total > s.MaxHeadBytes {
			return nil, errHeaderTooLarge(fmt.Sprintf("The request line and headers are larger than %s.", sizeText(s.MaxHeadBytes)),
				"Send fewer or shorter headers (cookies, long tokens)."), true
		}
		if err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				// One line longer than the buffer: keep it whole, still within the limit.
				rest, readErr := readLongLine(c.reader, line, s.MaxHeadBytes-total+len(line))
				if readErr == nil {
					total += len(rest) - len(line)
					lines = append(lines, rest)
					continue
				}
				err = readErr
			}
			var netErr net.Error
			if errors.As(err, &netErr) && netErr.Timeout() {
				return nil, &Error{408, "REQUEST_TIMEOUT", fmt.Sprintf("The request line and headers did not arrive within %s s.", strconv.FormatFloat(s.HeadTimeout.Seconds(), 'g', -1, 64)),
					"Send the request line and headers at once, without pauses."}, true
			}
			if errors.Is(err, errLineTooLong) {
				return nil, errHeaderTooLarge(fmt.Sprintf("The request line and headers are larger than %s.", sizeText(s.MaxHeadBytes)),
					"Send fewer or shorter headers (cookies, long tokens)."), true
			}
			return nil, &Error{}, false // the client went away mid-head
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if len(lines) == 0 {
				continue // a stray CRLF between requests is tolerated (RFC 9112 2.2)
			}
			break
		}
		lines = append(lines, append([]byte(nil), line...))
	}
	request, refusal := parseHead(lines)
	if refusal != nil {
		return nil, refusal, true
	}
	request.conn = c
	return request, nil, true
}

var errLineTooLong = errors.New("line too long")

func readLongLine(reader *bufio.Reader, start []byte, room int) ([]byte, error) {
	line := append([]byte(nil), start...)
	for {
		more, err := reader.ReadSlice('\n')
		line = append(line, more...)
		if len(line) > room {
			return nil, errLineTooLong
		}
		if err == nil {
			return line, nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}

func peekBuffered(reader *bufio.Reader) []byte {
	data, _ := reader.Peek(reader.Buffered())
	return data
}

func malformed(problem string) *Error {
	return errMalformed(fmt.Sprintf("The request is not valid HTTP/1.1: %s.", problem),
		"Check the request line and header syntax; each header is 'Name: value' on its own line, Content-Length appears at most once.")
}

func parseHead(lines [][]byte) (*Request, *Error) {
	first := string(lines[0])
	method, rest, ok1 := strings.Cut(first, " ")
	target, version, ok2 := strings.Cut(rest, " ")
	if first == "PRI * HTTP/2.0" {
		return nil, errMalformed("The request is HTTP/2; this server speaks HTTP/1.1 only.",
			"Send HTTP/1.1 (curl --http1.1; httpx does by default).")
	}
	if !ok1 || !isToken(method) {
		return nil, malformed("Invalid method")
	}
	if !ok2 || target == "" || strings.ContainsAny(target, " \t") {
		return nil, malformed("Invalid request target")
	}
	if version != "HTTP/1.1" && version != "HTTP/1.0" {
		return nil, malformed("Invalid HTTP version")
	}
	if method == "CONNECT" || !(strings.HasPrefix(target, "/") || target == "*") {
		return nil, errMalformed("The request line or headers could not be read.",
			"Send an HTTP/1.1 request with an ASCII, percent-encoded path.")
	}
	r := &Request{Method: method, Target: target, closeAfter: version == "HTTP/1.0"}
	rawPath, _, _ := strings.Cut(target, "?")
	path, err := unescapePath(rawPath)
	if err != nil {
		return nil, errMalformed("The request line or headers could not be read.",
			"Send an HTTP/1.1 request with an ASCII, percent-encoded path.")
	}
	r.Path = path
	r.Headers = make([]Header, 0, len(lines)-1)
	lengths := 0
	upgrade, connectionUpgrade, transferEncoding := false, false, ""
	for _, line := range lines[1:] {
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !isToken(string(line[:colon])) {
			return nil, malformed("Invalid header token")
		}
		name := lowerASCII(line[:colon])
		value := string(bytes.Trim(line[colon+1:], " \t"))
		switch name {
		case "content-length":
			lengths++
			if lengths > 1 {
				return nil, malformed("Duplicate Content-Length")
			}
			n, err := strconv.ParseInt(value, 10, 64)
			if err != nil || n < 0 || strings.ContainsAny(value, "+-") {
				return nil, malformed("Invalid character in Content-Length")
			}
			r.ContentLength = n
		case "transfer-encoding":
			transferEncoding = strings.ToLower(value)
		case "connection":
			for _, token := range strings.Split(strings.ToLower(value), ",") {
				switch strings.TrimSpace(token) {
				case "close":
					r.closeAfter = true
				case "keep-alive":
					if version == "HTTP/1.0" {
						r.closeAfter = false
					}
				case "upgrade":
					connectionUpgrade = true
				}
			}
		case "upgrade":
			upgrade = true
		case "expect":
			r.Expect100 = strings.EqualFold(value, "100-continue")
		}
		r.Headers = append(r.Headers, Header{name, value})
	}
	if transferEncoding != "" {
		if lengths > 0 {
			return nil, malformed("Transfer-Encoding can't be present with Content-Length")
		}
		codings := strings.Split(transferEncoding, ",")
		if strings.TrimSpace(codings[len(codings)-1]) != "chunked" {
			return nil, malformed("Request has invalid `Transfer-Encoding`")
		}
		r.Chunked, r.ContentLength = true, -1
	}
	if upgrade && connectionUpgrade && r.HasBody() {
		// A body after a head asking for an upgrade is where proxies and servers
		// disagree on framing (a request smuggled in it): refused, not guessed.
		return nil, errMalformed("The request asks for a protocol upgrade and has a body; this server does not upgrade, and cannot read a body sent so.",
			"Send it without the Upgrade and 'Connection: upgrade' headers (curl: --http1.1).")
	}
	return r, nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

func lowerASCII(b []byte) string {
	out := make([]byte, len(b))
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		out[i] = c
	}
	return string(out)
}

func unescapePath(raw string) (string, error) {
	if !strings.Contains(raw, "%") {
		return raw, nil
	}
	var b strings.Builder
	for i := 0; i < len(raw); i++ {
		if raw[i] != '%' {
			b.WriteByte(raw[i])
			continue
		}
		if i+2 >= len(raw) {
			return "", errors.New("bad escape")
		}
		n, err := strconv.ParseUint(raw[i+1:i+3], 16, 8)
		if err != nil {
			return "", err
		}
		b.WriteByte(byte(n))
		i += 2
	}
	return b.String(), nil
}

func sizeText(n int) string {
	if n%(1024*1024) == 0 {
		return fmt.Sprintf("%d MB", n/(1024*1024))
	}
	if n%1024 == 0 {
		return fmt.Sprintf("%d KB", n/1024)
	}
	return fmt.Sprintf("%d bytes", n)
}

func (s *Server) writeRefusal(c *serverConn, refusal *Error) {
	body := refusal.Body()
	_, _ = c.conn.Write([]byte(fmt.Sprintf("HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %d\r\nconnection: close\r\n\r\n%s",
		refusal.Status, http.StatusText(refusal.Status), len(body), body)))
}

// writeAnswer writes one answer in a single write (the body apart when it is large).
func (c *serverConn) writeAnswer(r *Request, a *Answer) {
	b := c.out[:0]
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(a.Status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(a.Status)...)
	b = append(b, "\r\n"...)
	for _, h := range a.Headers {
		b = append(b, h.Name...)
		b = append(b, ": "...)
		b = append(b, h.Value...)
		b = append(b, "\r\n"...)
	}
	head := r.Method == "HEAD"
	noBody := head || a.Status == 204 || a.Status == 304 || a.Status < 200
	switch {
	case head && a.HeadLength != "":
		b = append(b, "content-length: "...)
		b = append(b, a.HeadLength...)
		b = append(b, "\r\n"...)
	case !noBody:
		b = append(b, "content-length: "...)
		b = strconv.AppendInt(b, int64(len(a.Body)), 10)
		b = append(b, "\r\n"...)
	}
	if a.Close {
		b = append(b, "connection: close\r\n"...)
	}
	b = append(b, "\r\n"...)
	body := a.Body
	if noBody {
		body = nil
	}
	if len(body) <= 32768 {
		b = append(b, body...)
		_, _ = c.conn.Write(b)
	} else {
		buffers := net.Buffers{b, body}
		_, _ = buffers.WriteTo(c.conn)
	}
	if cap(b) <= 65536 {
		c.out = b
	}
}

// readChunked reads a chunked body (trailers dropped), at most limit bytes.
func readChunked(reader *bufio.Reader, limit int64) ([]byte, error) {
	var body []byte
	for {
		line, err := reader.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		sizeText, _, _ := strings.Cut(strings.TrimSpace(string(line)), ";")
		size, err := strconv.ParseInt(sizeText, 16, 64)
		if err != nil || size < 0 {
			return nil, fmt.Errorf("invalid chunk size %q", sizeText)
		}
		if size == 0 {
			for { // trailers, up to the empty line
				trailer, err := reader.ReadSlice('\n')
				if err != nil {
					return nil, err
				}
				if len(bytes.TrimRight(trailer, "\r\n")) == 0 {
					return body, nil
				}
			}
		}
		if int64(len(body))+size > limit {
			return nil, errBodyTooLarge
		}
		start := len(body)
		body = append(body, make([]byte, size)...)
		if _, err := io.ReadFull(reader, body[start:]); err != nil {
			return nil, err
		}
		if _, err := reader.Discard(2); err != nil { // the chunk's CRLF
			return nil, err
		}
	}
}

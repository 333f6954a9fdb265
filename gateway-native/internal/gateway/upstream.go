package gateway

// A lean, pooled HTTP/1.1 client for inference servers (upstream.py's contract).
// Failures are classified so the gateway answers the right status and retries only
// what provably never reached the model:
//
//   - *ConnectError: the request did not reach the server's app (refused, or reset
//     before any answer byte on a fresh connection); another instance may be tried;
//   - *BrokenError: the server may have taken the request, then failed to answer;
//   - *TimeoutError: no full answer before the deadline.
//
// A pooled connection that fails before any answer byte is stale (closed while idle):
// the request is sent once more on a fresh connection, whose outcome decides.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ConnectError: the request never reached the instance's app.
type ConnectError struct{ msg string }

func (e *ConnectError) Error() string { return e.msg }

// BrokenError: the exchange failed after the request was sent.
type BrokenError struct{ msg string }

func (e *BrokenError) Error() string { return e.msg }

// TimeoutError: the answer did not come before the deadline.
type TimeoutError struct{ msg string }

func (e *TimeoutError) Error() string { return e.msg }

type staleError struct{}

func (staleError) Error() string { return "the inference server closed the kept-alive connection" }

// Instance is one inference server, parsed once per config load.
type Instance struct {
	URL        string
	addr       string
	prefix     string
	hostHeader string
}

// NewInstance from a validated config URL.
func NewInstance(raw string) Instance {
	parts, _ := url.Parse(raw)
	port := parts.Port()
	if port == "" {
		port = "80"
	}
	return Instance{URL: raw, addr: net.JoinHostPort(parts.Hostname(), port),
		prefix: strings.TrimRight(parts.EscapedPath(), "/"), hostHeader: parts.Host}
}

// Response is a whole upstream answer; header names are lower case.
type Response struct {
	Status  int
	Headers []Header
	Body    []byte
}

type upstreamConn struct {
	net.Conn
	reader    *bufio.Reader
	got       int // bytes read in the current exchange
	idleSince time.Time
	reused    bool
}

func (c *upstreamConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.got += n
	return n, err
}

// Client keeps connections to every instance alive across requests.
type Client struct {
	mu          sync.Mutex
	idle        map[string][]*upstreamConn
	maxIdle     int
	idleTimeout time.Duration
	buffers     sync.Pool
}

// NewClient with uvicorn-friendly idle limits: idle connections are dropped before
// uvicorn's 5 s keep-alive would close them.
func NewClient() *Client {
	return &Client{idle: map[string][]*upstreamConn{}, maxIdle: 64, idleTimeout: 3 * time.Second}
}

// Header is one request header to send upstream.
type Header struct{ Name, Value string }

// Do sends one request and returns the whole answer, or a classified error. fresh
// skips the pool (a retry on a URL already tried, which may front several pods).
func (c *Client) Do(inst Instance, method, target string, headers []Header, body []byte,
	timeout time.Duration, fresh bool) (*Response, error) {
	deadline := time.Now().Add(timeout)
	bufferPointer, _ := c.buffers.Get().(*[]byte)
	if bufferPointer == nil {
		bufferPointer = new([]byte)
	}
	request := serialize((*bufferPointer)[:0], inst, method, target, headers, body)
	defer func() { *bufferPointer = request; c.buffers.Put(bufferPointer) }()
	head := method == "HEAD"
	if !fresh {
		if conn := c.idleConn(inst.addr); conn != nil {
			response, err := c.exchange(inst, conn, request, deadline, head)
			if _, stale := err.(staleError); !stale {
				return response, err
			}
		}
	}
	conn, err := c.connect(inst, deadline)
	if err != nil {
		if _, refused := err.(*ConnectError); refused {
			c.dropIdle(inst.addr) // every pooled connection to it is dead too
		}
		return nil, err
	}
	return c.exchange(inst, conn, request, deadline, head)
}

func (c *Client) exchange(inst Instance, conn *upstreamConn, request []byte, deadline time.Time, head bool) (*Response, error) {
	conn.got = conn.reader.Buffered()
	_ = conn.SetDeadline(deadline)
	if _, err := conn.Conn.Write(request); err != nil {
		conn.Close()
		return nil, classify(err, conn, "")
	}
	response, keepAlive, err := readResponse(conn.reader, head)
	if err != nil {
		conn.Close()
		return nil, classify(err, conn, "invalid HTTP from the inference server")
	}
	if keepAlive {
		c.putIdle(inst.addr, conn)
	} else {
		conn.Close()
	}
	return response, nil
}

var errInvalidResponse = errors.New("malformed answer")

// readResponse reads one whole answer (interim 1xx answers skipped); keepAlive says
// whether the connection may carry another exchange.
func readResponse(reader *bufio.Reader, head bool) (*Response, bool, error) {
	for {
		line, err := reader.ReadSlice('\n')
		if err != nil {
			return nil, false, err
		}
		// HTTP/1.x SP status SP reason
		if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
			return nil, false, fmt.Errorf("%w: bad status line", errInvalidResponse)
		}
		status, convErr := strconv.Atoi(string(line[9:12]))
		if convErr != nil {
			return nil, false, fmt.Errorf("%w: bad status code", errInvalidResponse)
		}
		keepAlive := line[7] == '1'
		response := &Response{Status: status, Headers: make([]Header, 0, 8)}
		length, chunked := int64(-1), false
		for {
			line, err = reader.ReadSlice('\n')
			if err != nil {
				if errors.Is(err, bufio.ErrBufferFull) {
					return nil, false, fmt.Errorf("%w: header line too long", errInvalidResponse)
				}
				return nil, false, err
			}
			line = bytes.TrimRight(line, "\r\n")
			if len(line) == 0 {
				break
			}
			colon := bytes.IndexByte(line, ':')
			if colon <= 0 {
				return nil, false, fmt.Errorf("%w: bad header line", errInvalidResponse)
			}
			name := lowerASCII(line[:colon])
			value := string(bytes.Trim(line[colon+1:], " \t"))
			switch name {
			case "content-length":
				n, err := strconv.ParseInt(value, 10, 64)
				if err != nil || n < 0 {
					return nil, false, fmt.Errorf("%w: bad content-length", errInvalidResponse)
				}
				length = n
			case "transfer-encoding":
				chunked = strings.Contains(strings.ToLower(value), "chunked")
			case "connection":
				lower := strings.ToLower(value)
				if strings.Contains(lower, "close") {
					keepAlive = false
				} else if strings.Contains(lower, "keep-alive") {
					keepAlive = true
				}
			}
			response.Headers = append(response.Headers, Header{name, value})
		}
		if status >= 100 && status < 200 && status != 101 {
			continue // an interim answer (100 Continue, 103 Early Hints): the real one follows
		}
		switch {
		case head || status == 204 || status == 304:
		case chunked:
			if response.Body, err = readChunked(reader, 1<<40); err != nil {
				return nil, false, err
			}
		case length >= 0:
			response.Body = make([]byte, length)
			if _, err := io.ReadFull(reader, response.Body); err != nil {
				return nil, false, err
			}
		default: // delimited by the end of the connection
			if response.Body, err = io.ReadAll(reader); err != nil {
				return nil, false, err
			}
			keepAlive = false
		}
		return response, keepAlive, nil
	}
}

// classify names what a failed exchange means for retrying.
func classify(err error, conn *upstreamConn, parseProblem string) error {
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return &TimeoutError{"deadline passed"}
	}
	if conn.got == 0 {
		if conn.reused {
			return staleError{}
		}
		if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) {
			// Reset on a fresh connection: the server never read the whole request.
			return &ConnectError{"the inference server reset the connection before reading the request (ConnectionResetError)"}
		}
		return &BrokenError{"the inference server closed the connection before answering"}
	}
	if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		return &BrokenError{"the inference server closed the connection in the middle of its answer"}
	}
	if parseProblem != "" {
		return &BrokenError{fmt.Sprintf("%s: %v", parseProblem, err)}
	}
	return &BrokenError{fmt.Sprintf("the exchange with the inference server failed: %v", err)}
}

func (c *Client) connect(inst Instance, deadline time.Time) (*upstreamConn, error) {
	remaining := time.Until(deadline)
	if remaining <= 0 {
		return nil, &TimeoutError{"deadline passed before connecting"}
	}
	raw, err := net.DialTimeout("tcp", inst.addr, remaining)
	if err != nil {
		var netErr net.Error
		if errors.As(err, &netErr) && netErr.Timeout() {
			return nil, &TimeoutError{fmt.Sprintf("connecting to %s timed out", inst.URL)}
		}
		reason := err.Error()
		var errno syscall.Errno
		if errors.As(err, &errno) {
			reason = errno.Error()
		}
		return nil, &ConnectError{fmt.Sprintf("cannot connect to %s: %s", inst.URL, reason)}
	}
	if tcp, ok := raw.(*net.TCPConn); ok {
		_ = tcp.SetNoDelay(true)
		raw = newSocketConn(raw, tcp)
	}
	conn := &upstreamConn{Conn: raw}
	conn.reader = bufio.NewReaderSize(conn, 16384)
	return conn, nil
}

func (c *Client) idleConn(addr string) *upstreamConn {
	c.mu.Lock()
	defer c.mu.Unlock()
	idle := c.idle[addr]
	now := time.Now()
	for len(idle) > 0 {
		conn := idle[len(idle)-1]
		idle = idle[:len(idle)-1]
		if now.Sub(conn.idleSince) < c.idleTimeout {
			c.idle[addr] = idle
			return conn
		}
		conn.Close()
	}
	c.idle[addr] = idle
	return nil
}

func (c *Client) putIdle(addr string, conn *upstreamConn) {
	conn.idleSince = time.Now()
	conn.reused = true
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.idle[addr]) >= c.maxIdle {
		conn.Close()
		return
	}
	c.idle[addr] = append(c.idle[addr], conn)
}

func (c *Client) dropIdle(addr string) {
	c.mu.Lock()
	idle := c.idle[addr]
	delete(c.idle, addr)
	c.mu.Unlock()
	for _, conn := range idle {
		conn.Close()
	}
}

// Close drops every idle connection.
func (c *Client) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for addr, idle := range c.idle {
		for _, conn := range idle {
			conn.Close()
		}
		delete(c.idle, addr)
	}
}

func serialize(b []byte, inst Instance, method, target string, headers []Header, body []byte) []byte {
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, inst.prefix...)
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nhost: "...)
	b = append(b, inst.hostHeader...)
	b = append(b, "\r\n"...)
	for _, h := range headers {
		b = append(b, h.Name...)
		b = append(b, ": "...)
		b = append(b, h.Value...)
		b = append(b, "\r\n"...)
	}
	if len(body) > 0 || (method != "GET" && method != "HEAD" && method != "DELETE" && method != "OPTIONS") {
		b = append(b, "content-length: "...)
		b = strconv.AppendInt(b, int64(len(body)), 10)
		b = append(b, "\r\n"...)
	}
	b = append(b, "\r\n"...)
	return append(b, body...)
}

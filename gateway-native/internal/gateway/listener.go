package gateway

// The connection cap (mlkube.http_limits' max_connections): a connection opened past
// it is answered 503 TOO_MANY_CONNECTIONS in the JSON shape once its head is in, and
// closed, so a flood of idle connections cannot exhaust the gateway.

import (
	"bytes"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// CappedListener admits at most max open connections to its server.
type CappedListener struct {
	net.Listener
	max     int64
	open    atomic.Int64
	maxHead int
}

// NewCappedListener wraps inner; maxHead bounds how much of a refused head is read.
func NewCappedListener(inner net.Listener, max, maxHead int) *CappedListener {
	return &CappedListener{Listener: inner, max: int64(max), maxHead: maxHead}
}

// Accept returns the next admitted connection; refused ones are answered aside.
func (l *CappedListener) Accept() (net.Conn, error) {
	for {
		conn, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) > l.max {
			l.open.Add(-1)
			go l.refuse(conn)
			continue
		}
		return &countedConn{Conn: conn, listener: l}, nil
	}
}

var refusedBody = errTooManyConnections("The server already holds its maximum of open connections.",
	"Retry in a moment, reusing one connection for many requests.").Body()

func (l *CappedListener) refuse(conn net.Conn) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	head := make([]byte, 0, 4096)
	chunk := make([]byte, 4096)
	for !bytes.Contains(head, []byte("\r\n\r\n")) && len(head) < l.maxHead {
		n, err := conn.Read(chunk)
		head = append(head, chunk[:n]...)
		if err != nil {
			return
		}
	}
	_, _ = conn.Write([]byte("HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: " +
		strconv.Itoa(len(refusedBody)) + "\r\nretry-after: 1\r\nconnection: close\r\n\r\n" + string(refusedBody)))
}

type countedConn struct {
	net.Conn
	listener *CappedListener
	once     sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.listener.open.Add(-1) })
	return c.Conn.Close()
}

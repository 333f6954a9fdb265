package gateway

// The access log: one line per request, written in batches (access_log.py's format),
// holding request id, method, path, deployment, status and latency, never a header
// value, so it cannot leak a key:
//
//	2026-11-28T10:10:00.123Z access 5f0c...e1 POST /score deployment=blue status=200 latency_ms=1.2

import (
	"io"
	"strconv"
	"sync"
	"time"
)

// FlushInterval bounds how late a line appears.
const FlushInterval = 200 * time.Millisecond

const maxWaiting = 256

// AccessLog buffers lines to out; nil out writes nothing.
type AccessLog struct {
	mu      sync.Mutex
	out     io.Writer
	buffer  []byte
	waiting int
}

// NewAccessLog to out (nil: no access log).
func NewAccessLog(out io.Writer) *AccessLog { return &AccessLog{out: out} }

// Write one line.
func (l *AccessLog) Write(requestID, method, path, deployment string, status int, seconds float64) {
	if l.out == nil {
		return
	}
	if deployment == "" {
		deployment = "-"
	}
	now := time.Now().UTC()
	l.mu.Lock()
	b := now.AppendFormat(l.buffer, "2006-01-02T15:04:05.000Z")
	b = append(b, " access "...)
	b = append(b, requestID...)
	b = append(b, ' ')
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, path...)
	b = append(b, " deployment="...)
	b = append(b, deployment...)
	b = append(b, " status="...)
	b = strconv.AppendInt(b, int64(status), 10)
	b = append(b, " latency_ms="...)
	b = strconv.AppendFloat(b, seconds*1000, 'f', 1, 64)
	b = append(b, '\n')
	l.buffer = b
	l.waiting++
	full := l.waiting >= maxWaiting
	l.mu.Unlock()
	if full {
		l.Flush()
	}
}

// Flush writes the waiting lines; a closed or full stream never fails a request.
func (l *AccessLog) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buffer) == 0 || l.out == nil {
		return
	}
	_, _ = l.out.Write(l.buffer)
	l.buffer = l.buffer[:0]
	l.waiting = 0
}

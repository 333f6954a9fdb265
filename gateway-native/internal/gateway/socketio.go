package gateway

// Socket reads and writes without the Go runtime's syscall bookkeeping. Every blocking
// syscall a goroutine makes goes through entersyscall, which wakes the runtime's
// monitor thread (sysmon) when it sleeps; at one request per millisecond or so that is
// a wake-up, and a few 20 µs polls, per request, measured as a quarter of the native
// gateway's CPU. Reads and writes on a non-blocking socket never block, so they are
// made as raw syscalls through the connection's RawConn, which still waits for
// readiness in the netpoller and still honours deadlines.

import (
	"io"
	"net"
	"syscall"
	"unsafe"
)

// socketConn is a net.Conn whose Read and Write are raw non-blocking syscalls. It is
// used by one reader and one writer goroutine at a time, as every connection here is.
type socketConn struct {
	net.Conn
	raw             syscall.RawConn
	readBuf         []byte
	readN           int
	readErr         error
	writeBuf        []byte
	writeErr        error
	readFn, writeFn func(fd uintptr) bool
}

// newSocketConn wraps conn when tcp (the same connection, or the one under it)
// offers a RawConn; otherwise conn is returned as it is.
func newSocketConn(conn net.Conn, tcp *net.TCPConn) net.Conn {
	raw, err := tcp.SyscallConn()
	if err != nil {
		return conn
	}
	c := &socketConn{Conn: conn, raw: raw}
	c.readFn = c.readOnce
	c.writeFn = c.writeSome
	return c
}

func (c *socketConn) readOnce(fd uintptr) bool {
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, fd,
			uintptr(unsafe.Pointer(&c.readBuf[0])), uintptr(len(c.readBuf)))
		switch errno {
		case 0:
			c.readN, c.readErr = int(n), nil
			if n == 0 {
				c.readErr = io.EOF
			}
			return true
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait in the netpoller
		default:
			c.readN, c.readErr = 0, errno
			return true
		}
	}
}

func (c *socketConn) writeSome(fd uintptr) bool {
	for len(c.writeBuf) > 0 {
		n, _, errno := syscall.RawSyscall(syscall.SYS_WRITE, fd,
			uintptr(unsafe.Pointer(&c.writeBuf[0])), uintptr(len(c.writeBuf)))
		switch errno {
		case 0:
			c.writeBuf = c.writeBuf[n:]
		case syscall.EINTR:
		case syscall.EAGAIN:
			return false
		default:
			c.writeErr = errno
			return true
		}
	}
	return true
}

func (c *socketConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.readBuf = p
	err := c.raw.Read(c.readFn)
	c.readBuf = nil
	if err != nil {
		return 0, err // a deadline, or the connection closed
	}
	return c.readN, c.readErr
}

func (c *socketConn) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	c.writeBuf, c.writeErr = p, nil
	err := c.raw.Write(c.writeFn)
	written := len(p) - len(c.writeBuf)
	c.writeBuf = nil
	if err != nil {
		return written, err
	}
	return written, c.writeErr
}

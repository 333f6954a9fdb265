package gateway

// The gateway's own log lines, in the Python gateway's format
// ("%(asctime)s %(levelname)s %(name)s %(message)s"), so one log reader serves both
// engines. Levels below the chosen one are dropped; nothing here ever formats a key.

import (
	"fmt"
	"io"
	"sync"
	"time"
)

// Log levels, as Python's logging numbers them.
const (
	LevelDebug   = 10
	LevelInfo    = 20
	LevelWarning = 30
	LevelError   = 40
	// LevelCritical is only a threshold: no line is written at it.
	LevelCritical = 50
)

var levelNames = map[int]string{LevelDebug: "DEBUG", LevelInfo: "INFO", LevelWarning: "WARNING", LevelError: "ERROR"}

// Logger writes levelled lines to out.
type Logger struct {
	mu    sync.Mutex
	out   io.Writer
	level int
}

// NewLogger writing lines at level and above to out.
func NewLogger(out io.Writer, level int) *Logger { return &Logger{out: out, level: level} }

// Logf writes one line at level.
func (l *Logger) Logf(level int, format string, args ...any) {
	if level < l.level {
		return
	}
	line := time.Now().Format("2006-01-02 15:04:05,000") + " " + levelNames[level] +
		" mlkube.gateway " + fmt.Sprintf(format, args...) + "\n"
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.out, line)
}

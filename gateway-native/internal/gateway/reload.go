package gateway

// Files the gateway re-reads while it runs (reload.py): its config and its keys. Each
// is polled and compared by content, not mtime: a Kubernetes ConfigMap or Secret is
// updated by swapping a symlink, which an mtime check on the visible path can miss. A
// change that does not parse never takes the gateway down: the last good version keeps
// serving and the refusal is logged once per distinct content.

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// WatchedFile is one file with its parser and the last text seen.
type WatchedFile[T any] struct {
	Path     string
	Name     string
	parse    func(text []byte, source string) (T, error)
	lastText []byte
	unread   bool
	logger   *Logger
}

// NewWatchedFile for path, called name in messages ("config", "keys").
func NewWatchedFile[T any](path, name string, parse func([]byte, string) (T, error), logger *Logger) *WatchedFile[T] {
	return &WatchedFile[T]{Path: path, Name: name, parse: parse, logger: logger}
}

func (w *WatchedFile[T]) source() string { return fmt.Sprintf("%s file %s", w.Name, w.Path) }

// Load is the first load: a missing or bad file is an error for the caller.
func (w *WatchedFile[T]) Load() (T, error) {
	var zero T
	text, err := os.ReadFile(w.Path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return zero, errArtifactsNotFound(fmt.Sprintf("The gateway's %s file %s does not exist.", w.Name, w.Path),
				fmt.Sprintf("Pass the %s file the target wrote (--%s PATH).", w.Name, w.Name))
		}
		return zero, errArtifactsNotFound(fmt.Sprintf("The gateway's %s file %s cannot be read: %v.", w.Name, w.Path, unwrapPathError(err)),
			"Check the path and its permissions.")
	}
	value, err := w.parse(text, w.source())
	if err != nil {
		return zero, err
	}
	w.lastText = text
	return value, nil
}

// Poll reports whether the content changed, and the new value if it also parses.
func (w *WatchedFile[T]) Poll() (changed bool, value T, ok bool) {
	text, err := os.ReadFile(w.Path)
	if err != nil {
		if !w.unread { // mid-swap or deleted: keep the last good value, say so once
			w.logger.Logf(LevelWarning, "Keeping the current %s: %s cannot be read (%v).", w.Name, w.Path, unwrapPathError(err))
			w.unread = true
			w.lastText = nil
		}
		return false, value, false
	}
	w.unread = false
	if w.lastText != nil && bytes.Equal(text, w.lastText) {
		return false, value, false
	}
	w.lastText = text
	parsed, err := w.parse(text, w.source())
	if err != nil {
		w.logger.Logf(LevelError, "Keeping the current %s: the new one is invalid: %s", w.Name, describe(err))
		return true, value, false
	}
	return true, parsed, true
}

// describe is an error as the Python gateway's log shows it: message, then hint.
func describe(err error) string {
	var gwErr *Error
	if errors.As(err, &gwErr) && gwErr.Hint != "" {
		return gwErr.Message + "\nHint: " + gwErr.Hint
	}
	return err.Error()
}

func unwrapPathError(err error) error {
	var pathErr *fs.PathError
	if errors.As(err, &pathErr) {
		return pathErr.Err
	}
	return err
}

// WarnIfReadableByOthers says so when users other than the gateway's own can read the
// keys file: any permission for others, or for a group the gateway does not run as. A
// Kubernetes Secret mount (root, 0440, group the pod's fsGroup: the gateway's own) is
// readable by nobody else, and a read-only mount cannot be chmod-ed anyway.
func WarnIfReadableByOthers(path string, logger *Logger) {
	info, err := os.Stat(path)
	if err != nil {
		return
	}
	perm := info.Mode().Perm()
	foreignGroup := true
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		foreignGroup = int(st.Gid) != os.Getgid()
	}
	if perm&0o007 != 0 || (perm&0o070 != 0 && foreignGroup) {
		logger.Logf(LevelWarning, "The keys file %s is readable by other users (mode %o); chmod 600 it.", path, info.Mode().Perm())
	}
}

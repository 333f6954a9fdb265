// Command mlkube-gateway serves one online endpoint's gateway, as `mlkube gateway run`
// does: the same flags, config file, keys file, routes and answers (the native engine;
// see gateway-native/README.md for what it does not do yet).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"mlkube.io/gateway/internal/gateway"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stderr))
}

func run(args []string, stderr io.Writer) int {
	flags := flag.NewFlagSet("mlkube-gateway", flag.ContinueOnError)
	flags.SetOutput(stderr)
	config := flags.String("config", "", "Gateway config file (JSON).")
	flags.StringVar(config, "c", "", "Short for --config.")
	keys := flags.String("keys", "", "Keys file (JSON, mode 0600).")
	flags.StringVar(keys, "k", "", "Short for --keys.")
	port := flags.Int("port", 8080, "Port to listen on (0: any free port, printed at start).")
	flags.IntVar(port, "p", 8080, "Short for --port.")
	host := flags.String("host", "127.0.0.1", "Address to listen on (0.0.0.0 inside a container).")
	reloadInterval := flags.Float64("reload-interval", 1.0, "Seconds between checks of both files.")
	maxBodyMB := flags.Int64("max-body-mb", 100, "Largest request body accepted, in MB.")
	maxBodyBytes := flags.Int64("max-body-bytes", 0, "Largest request body in bytes (overrides --max-body-mb; for tests).")
	maxHeaderKB := flags.Int("max-header-kb", 64, "Largest request line + headers accepted, in KB.")
	headerTimeout := flags.Float64("header-timeout", 10, "Seconds a client has to send a request's line and headers.")
	maxConnections := flags.Int("max-connections", 2048, "Open client connections held at once; one past them is answered 503.")
	keepAlive := flags.Float64("keep-alive", 5.0, "Seconds an idle kept-alive client connection stays open.")
	logLevel := flags.String("log-level", "info", "debug, info (one access line per request), warning.")
	coolDown := flags.Float64("instance-cool-down", 1.0, "Seconds an instance that refused a request is avoided.")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	// The names Python's logging knows, as `mlkube gateway run` takes them (it hands its
	// flags over to this binary): nothing here logs at critical, so that is silence.
	level, ok := map[string]int{"notset": gateway.LevelDebug, "debug": gateway.LevelDebug,
		"info": gateway.LevelInfo, "warning": gateway.LevelWarning, "warn": gateway.LevelWarning,
		"error": gateway.LevelError, "critical": gateway.LevelCritical, "fatal": gateway.LevelCritical,
	}[strings.ToLower(*logLevel)]
	if !ok {
		return fail(stderr, fmt.Sprintf("--log-level %q is not a log level", *logLevel), "Use debug, info, warning or error.")
	}
	if *config == "" || *keys == "" {
		return fail(stderr, "Both --config and --keys are required.", "Pass the files the target wrote: --config gateway.json --keys keys.json.")
	}
	if *reloadInterval <= 0 {
		return fail(stderr, "--reload-interval must be a positive number of seconds.", "Use the default, 1.")
	}
	logger := gateway.NewLogger(stderr, level)
	var accessLog io.Writer
	if level <= gateway.LevelInfo {
		accessLog = stderr
	}
	limit := *maxBodyMB * 1024 * 1024
	if *maxBodyBytes > 0 {
		limit = *maxBodyBytes
	}
	gw, err := gateway.New(*config, *keys, gateway.Options{
		ReloadInterval: seconds(*reloadInterval), MaxBodyBytes: limit, CoolDown: seconds(*coolDown),
		AccessLog: accessLog, Logger: logger,
	})
	if err != nil {
		var gwErr *gateway.Error
		if errors.As(err, &gwErr) {
			return fail(stderr, gwErr.Message, gwErr.Hint)
		}
		return fail(stderr, err.Error(), "")
	}
	listener, err := net.Listen("tcp", net.JoinHostPort(*host, fmt.Sprint(*port)))
	if err != nil {
		return fail(stderr, fmt.Sprintf("Cannot listen on %s:%d: %v.", *host, *port, err), "Pick a free port with --port, or stop what holds it.")
	}
	server := &gateway.Server{
		Handler:        gw.Serve,
		MaxHeadBytes:   *maxHeaderKB * 1024,
		HeadTimeout:    seconds(*headerTimeout),
		KeepAlive:      seconds(*keepAlive),
		MaxConnections: *maxConnections,
		Logger:         logger,
	}
	gw.Start()
	logger.Logf(gateway.LevelInfo, "Listening on http://%s", listener.Addr())
	done := make(chan os.Signal, 1)
	signal.Notify(done, syscall.SIGTERM, syscall.SIGINT)
	served := make(chan error, 1)
	go func() { served <- server.Serve(listener) }()
	select {
	case err := <-served:
		gw.Close()
		return fail(stderr, fmt.Sprintf("The gateway stopped serving: %v.", err), "")
	case <-done:
	}
	// Stop accepting, then let requests in flight finish (as uvicorn's graceful
	// shutdown does, up to 30 s).
	listener.Close()
	gw.Drain(30 * time.Second)
	gw.Close()
	return 0
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

func fail(stderr io.Writer, message, hint string) int {
	fmt.Fprintf(stderr, "Error: %s\n", message)
	if hint != "" {
		fmt.Fprintf(stderr, "Hint: %s\n", hint)
	}
	return 1
}

package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/shmlru/shmlru/shm"
	"github.com/shmlru/shmlru/version"
)

// shutdownGrace is how long serve lets scrapes under way finish after
// SIGTERM or SIGINT before it closes their connections.
const shutdownGrace = 5 * time.Second

var serveCmd = &command{
	name:    "serve",
	summary: "a Prometheus exporter: answer /metrics over HTTP",
	maxArgs: 0,
	desc: `Answers GET /metrics over HTTP with the cache's metrics in the Prometheus
text exposition format, as exporters do: stats --format prometheus's, and
shmlru_up. It runs until SIGTERM or SIGINT (Ctrl-C), then shuts down
cleanly: it stops listening, lets scrapes under way finish (up to 5s) and
exits with status 0.

Each scrape opens the region, reads it and closes it again: between scrapes
the exporter holds no process slot, it may start before the cache exists,
and it follows a region removed and created anew. While the region cannot
be read (it does not exist yet, it is not a region, permissions forbid) a
scrape answers shmlru_up 0 and nothing else, and the exporter says why on
stderr, once each time the reason changes; shmlru_up is 1 when the region
was read. Like stats, it changes nothing. On stderr it also says where it
listens ("serving http://ADDR/metrics").`,
	example: `shmctl -r myapp serve --listen :9877
curl -s http://localhost:9877/metrics | grep shmlru_up`,
	setup: func(fs *flag.FlagSet) runner {
		listen := fs.String("listen", ":9877", "listen on `ADDR`, host:port (port 0: any free port)")
		return func(e *env, _ []string) error {
			if e.region == "" {
				return usagef("no region given: pass -r PATH|NAME or set $%s", regionEnv)
			}
			ln, err := net.Listen("tcp", *listen)
			if err != nil {
				return fmt.Errorf("--listen %s: %v (choose another address or port)", *listen, err)
			}
			return serveMetrics(e, ln)
		}
	},
}

// serveMetrics serves the exporter on ln until SIGTERM or SIGINT.
func serveMetrics(e *env, ln net.Listener) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	x := &exporter{region: e.region, log: e.stderr}
	mux := http.NewServeMux()
	mux.Handle("/metrics", x)
	mux.HandleFunc("/", x.index)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(e.stderr, "shmctl serve: serving http://%s/metrics for %s\n", ln.Addr(), shm.Path(e.region))
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	}
	stop() // a second signal kills the process as usual
	fmt.Fprintf(e.stderr, "shmctl serve: shutting down\n")
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	err := srv.Shutdown(sctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	if err != nil {
		return fmt.Errorf("shutting down: %v", err)
	}
	return nil
}

// exporter answers scrapes of one region.
type exporter struct {
	region string
	log    io.Writer

	mu     sync.Mutex // one scrape at a time: one process slot at most
	reason string     // why the last scrape failed, "" if it did not
}

// ServeHTTP answers a scrape: shmlru_up, then the region's metrics if it
// could be read.
func (x *exporter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	var metrics bytes.Buffer
	err := x.scrape(&metrics)
	x.noteOutcome(err)
	up := 1
	if err != nil {
		metrics.Reset()
		up = 0
	}
	var body bytes.Buffer
	fmt.Fprintf(&body, "# HELP shmlru_up %s\n# TYPE shmlru_up gauge\nshmlru_up{region=\"%s\"} %d\n",
		promEscapeHelp("1 if the exporter could read the region at this scrape, 0 if not (shmctl serve says why on stderr)."),
		promEscapeLabel(shm.Path(x.region)), up)
	body.Write(metrics.Bytes())
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write(body.Bytes())
}

// scrape opens the region, writes its metrics and closes it.
func (x *exporter) scrape(w io.Writer) error {
	c, err := openCache(&env{region: x.region})
	if err != nil {
		return err
	}
	defer c.Close()
	rep, err := gather(c, false)
	if err != nil {
		return err
	}
	return writePrometheus(w, rep)
}

// noteOutcome logs a failed scrape's reason when it differs from the last
// one, and the first success after a failure.
func (x *exporter) noteOutcome(err error) {
	reason := ""
	if err != nil {
		reason = oneLine(err.Error())
	}
	if reason == x.reason {
		return
	}
	if reason != "" {
		fmt.Fprintf(x.log, "shmctl serve: cannot read the region: %s; answering shmlru_up 0\n", reason)
	} else {
		fmt.Fprintf(x.log, "shmctl serve: %s: read again; answering shmlru_up 1\n", shm.Path(x.region))
	}
	x.reason = reason
}

// index answers / with a pointer to /metrics, and other paths with 404.
func (x *exporter) index(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	fmt.Fprintf(w, "shmctl serve (shmlru %s): the metrics of %s are at /metrics\n", version.Version, shm.Path(x.region))
}

package main

import (
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/shmlru/shmlru/bench/internal/peers"
	"github.com/shmlru/shmlru/internal/ngxrun"
)

// env holds the servers and temporary files of a run.
type env struct {
	redis    *peers.ServerProc
	memcache *peers.ServerProc
	ngx      *ngxrun.Server // nginx, once started (see nginx.go)
	ngxErr   error          // or why it did not start
	kids     []*child
	stopped  bool
	shmSeq   int

	// nearRedis is the near section's own redis-server (near.go).
	nearRedis *peers.ServerProc
	// hotNgx are the hot-key section's nginx servers (hot.go).
	hotNgx []*ngxrun.Server
}

// startEnv returns a new env that check's exit, ^C and SIGTERM stop.
func startEnv() *env {
	e := &env{}
	atExit = e.stop
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-sig
		e.stop()
		os.Exit(130)
	}()
	return e
}

// servers starts redis and memcached on first use.
func (e *env) servers() (redisAddr, mcAddr string) {
	if e.redis == nil {
		s, err := peers.StartRedis(256 << 20)
		check(err)
		e.redis = s
		logf("redis-server on %s", s.Addr)
	}
	if e.memcache == nil {
		s, err := peers.StartMemcached(256)
		check(err)
		e.memcache = s
		logf("memcached on %s", s.Addr)
	}
	return e.redis.Addr, e.memcache.Addr
}

// shmPath is a fresh region path under /dev/shm.
func (e *env) shmPath(tag string) string {
	e.shmSeq++
	return fmt.Sprintf("/dev/shm/shmlru-bench-%d-%d-%s", os.Getpid(), e.shmSeq, tag)
}

func (e *env) stop() {
	if e.stopped {
		return
	}
	e.stopped = true
	for _, k := range e.kids {
		k.kill()
	}
	e.redis.Stop()
	e.memcache.Stop()
	e.nearRedis.Stop()
	if e.ngx != nil {
		e.ngx.Stop()
	}
	for _, s := range e.hotNgx {
		s.Stop()
	}
	m, _ := filepath.Glob(fmt.Sprintf("/dev/shm/shmlru-bench-%d-*", os.Getpid()))
	for _, p := range m {
		os.Remove(p)
	}
}

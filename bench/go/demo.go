// demo.go — the Go goroutine side of bench/demo.cpp, built by the demo itself with `go build`.
//
//	weft-demo-go point N   N goroutines block on one gate; prints "ok create_ns join_ns rss_per_task"
//	weft-demo-go point 0   switch cost: two goroutines handing control back and forth (GOMAXPROCS=1)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	v, _ := strconv.ParseInt(f[1], 10, 64)
	return v * int64(os.Getpagesize())
}

func switchCost() {
	runtime.GOMAXPROCS(1)
	const rounds = 2000000
	done := make(chan struct{})
	go func() {
		for i := 0; i < rounds; i++ {
			runtime.Gosched()
		}
		close(done)
	}()
	t0 := time.Now()
	for i := 0; i < rounds; i++ {
		runtime.Gosched()
	}
	<-done
	fmt.Printf("1 %.1f 0 0\n", float64(time.Since(t0).Nanoseconds())/float64(2*rounds))
}

func main() {
	if len(os.Args) < 3 || os.Args[1] != "point" {
		fmt.Fprintln(os.Stderr, "usage: weft-demo-go point N")
		os.Exit(2)
	}
	n, _ := strconv.Atoi(os.Args[2])
	if n == 0 {
		switchCost()
		return
	}
	var ready, done sync.WaitGroup
	gate := make(chan struct{})
	ready.Add(n)
	done.Add(n)
	runtime.GC()
	before := rssBytes()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			ready.Done()
			<-gate
			done.Done()
		}()
	}
	ready.Wait()
	t1 := time.Now()
	during := rssBytes()
	close(gate)
	done.Wait()
	t2 := time.Now()
	fmt.Printf("1 %.1f %.1f %.1f \n", float64(t1.Sub(t0).Nanoseconds())/float64(n),
		float64(t2.Sub(t1).Nanoseconds())/float64(n), float64(during-before)/float64(n))
}

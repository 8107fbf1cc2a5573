// chan.go — Go channel peers of bench/sync_bench (run by bench/channels_vs_go.sh), GOMAXPROCS=1:
// unbuffered ping-pong (ns per message) and buffered (cap 1024) throughput (ns per item).
package main

import (
	"fmt"
	"runtime"
	"time"
)

func main() {
	runtime.GOMAXPROCS(1)
	const rounds = 2000000
	ping, pong := make(chan int), make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	t0 := time.Now()
	for i := 0; i < rounds; i++ {
		ping <- i
		<-pong
	}
	close(ping)
	fmt.Printf("go_channel_pingpong %.1f ns/message\n", float64(time.Since(t0).Nanoseconds())/float64(2*rounds))

	const items = 5000000
	ch := make(chan int, 1024)
	done := make(chan struct{})
	go func() {
		for range ch {
		}
		close(done)
	}()
	t1 := time.Now()
	for i := 0; i < items; i++ {
		ch <- i
	}
	close(ch)
	<-done
	fmt.Printf("go_channel_buffered %.1f ns/item\n", float64(time.Since(t1).Nanoseconds())/float64(items))
}

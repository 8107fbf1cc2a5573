// http.go — Go net/http "hello" server for bench/http_bench.sh (the peer of examples/http_server).
package main

import (
	"net/http"
	"os"
)

func main() {
	addr := "127.0.0.1:" + os.Args[1]
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("Hello, world!\n"))
	})
	if err := http.ListenAndServe(addr, nil); err != nil {
		panic(err)
	}
}

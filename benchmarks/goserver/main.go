// A fast reference server for benchmarks/bench_loadgen.py: Go's net/http answering
// /sendjson with the same small JSON record as the demo server, so the load generator,
// not the server, is what the benchmark measures. Stdlib only.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
)

type user struct {
	Name  string   `json:"name"`
	Email string   `json:"email"`
	Age   int      `json:"age"`
	Tags  []string `json:"tags"`
}

func sendJSON(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	u := user{Name: "Bill", Email: "bill@ardanlabs.com", Age: 45, Tags: []string{"gopher", "pythonista"}}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(u)
}

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "address to listen on")
	flag.Parse()
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	http.HandleFunc("/sendjson", sendJSON)
	http.Serve(ln, nil)
}

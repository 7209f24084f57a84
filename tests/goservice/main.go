// A small Go service for pyprofnb's tests: net/http/pprof plus work that gives its CPU,
// heap, allocs and goroutine profiles a known shape (nested calls, inlined helpers,
// recursion, kept and freed allocations, parked goroutines).
package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	_ "net/http/pprof"
	"os"
	"runtime"
	"runtime/pprof"
	"sort"
	"strings"
	"sync"
	"time"
)

type record struct {
	Name  string   `json:"name"`
	Email string   `json:"email"`
	Tags  []string `json:"tags"`
	Score int      `json:"score"`
}

var (
	mu    sync.Mutex
	kept  [][]byte
	cache = map[int]string{}
)

func square(x int) int { return x * x } // small enough to be inlined

func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

func hashLoop(n int) [32]byte {
	sum := sha256.Sum256([]byte("seed"))
	for i := 0; i < n; i++ {
		sum = sha256.Sum256(sum[:])
	}
	return sum
}

func sortWork(n int) int {
	xs := make([]int, n)
	for i := range xs {
		xs[i] = square(n - i)
	}
	sort.Ints(xs)
	return xs[0]
}

func encodeRecords(n int) int {
	total := 0
	for i := 0; i < n; i++ {
		b, _ := json.Marshal(record{Name: "gopher", Email: "g@example.com", Tags: []string{"a", "b"}, Score: i})
		total += len(b)
	}
	return total
}

func keepBuffers(n, size int) {
	mu.Lock()
	defer mu.Unlock()
	for i := 0; i < n; i++ {
		kept = append(kept, make([]byte, size))
	}
}

func buildStrings(n int) int {
	var sb strings.Builder
	for i := 0; i < n; i++ {
		sb.WriteString(fmt.Sprintf("item-%d,", i))
	}
	s := sb.String()
	mu.Lock()
	cache[len(cache)] = s[:len(s)/2]
	mu.Unlock()
	return len(s)
}

func cpuWorker(stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		fib(22)
		hashLoop(2000)
		sortWork(3000)
		encodeRecords(200)
	}
}

func allocWorker(stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		if i%50 == 0 && len(kept) < 400 {
			keepBuffers(4, 64<<10)
		}
		buildStrings(500)
		time.Sleep(time.Millisecond)
	}
}

func parked(ch chan struct{}) { <-ch }

func main() {
	addr := flag.String("addr", "127.0.0.1:0", "listen address")
	flag.Parse()
	runtime.MemProfileRate = 64 << 10
	// Kept allocations from the first instant, so a heap profile taken right after start-up
	// already shows main.* frames: each 64 KiB buffer is sampled with probability 1-1/e at
	// this rate, so none of 40 is with probability e^-40.
	keepBuffers(40, 64<<10)
	stop := make(chan struct{})
	block := make(chan struct{})
	for i := 0; i < 5; i++ {
		go parked(block)
	}
	// Labels show up in the CPU and goroutine profiles (-tagfocus, -tags, -traces).
	go pprof.Do(context.Background(), pprof.Labels("worker", "cpu"), func(context.Context) { cpuWorker(stop) })
	go pprof.Do(context.Background(), pprof.Labels("worker", "alloc", "tier", "bulk"), func(context.Context) { allocWorker(stop) })
	http.HandleFunc("/sendjson", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(record{Name: "gopher", Email: "g@example.com", Score: 1})
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on http://%s\n", ln.Addr())
	os.Stdout.Sync()
	http.Serve(ln, nil)
}

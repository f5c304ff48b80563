package scrape

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"os"
	"syscall"
	"time"

	"github.com/sluicedev/sluice/bench/internal/sidecarpage"
)

// The stand-in endpoints run in a child process (this test binary re-executed with
// standInEnv set) so that the parent's CPU time is the scraping side's alone.
const standInEnv = "SLUICE_SCRAPE_STANDIN"

const (
	endpoints = 4000
	perOctet  = 250 // 127.1.X.1 … 127.1.X.250
)

// endpointIP is the loopback address of stand-in i.
func endpointIP(i int) string { return fmt.Sprintf("127.1.%d.%d", i/perOctet, i%perOctet+1) }

// raiseNoFile lifts the soft open-files limit to the hard one.
func raiseNoFile() (uint64, error) {
	var rl syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	rl.Cur = rl.Max
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
		return 0, err
	}
	return rl.Cur, nil
}

// runStandIns binds endpoints loopback addresses on one port, serves every one of them a
// destination-side page, prints "ready <port>" and serves until stdin closes.
func runStandIns() {
	if _, err := raiseNoFile(); err != nil {
		fmt.Println("error raising RLIMIT_NOFILE:", err)
		os.Exit(1)
	}
	ls, err := bindAll()
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	pages := [2][]byte{[]byte(sidecarpage.Filtered("v1")), []byte(sidecarpage.Filtered("v2"))}
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ip := r.Context().Value(http.LocalAddrContextKey).(net.Addr).(*net.TCPAddr).IP.To4()
			body := pages[0]
			if int(ip[3])%10 == 0 { // one endpoint in ten is the canary
				body = pages[1]
			}
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			_, _ = w.Write(body)
		}),
	}
	for _, l := range ls {
		go func() { _ = srv.Serve(l) }()
	}
	fmt.Printf("ready %d %d\n", ls[0].Addr().(*net.TCPAddr).Port, len(pages[0]))
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // parent gone or done
	os.Exit(0)
}

func bindAll() ([]net.Listener, error) {
	var last error
	for attempt := 0; attempt < 20; attempt++ {
		first, err := net.Listen("tcp", endpointIP(0)+":0")
		if err != nil {
			return nil, err
		}
		port := first.Addr().(*net.TCPAddr).Port
		ls := []net.Listener{first}
		for i := 1; i < endpoints; i++ {
			l, err := net.Listen("tcp", fmt.Sprintf("%s:%d", endpointIP(i), port))
			if err != nil {
				last = err
				break
			}
			ls = append(ls, l)
		}
		if len(ls) == endpoints {
			return ls, nil
		}
		for _, l := range ls {
			_ = l.Close()
		}
	}
	return nil, fmt.Errorf("binding %d addresses on one port: %w", endpoints, last)
}

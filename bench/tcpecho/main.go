// tcpecho: the TCP side of `make bench` (bench/tcp.py). Standard library only.
//
//	tcpecho -serve 127.0.0.1:0                 a line echo server: every line (ending "\n") written back;
//	                                           prints "listening on HOST:PORT" once it accepts
//	tcpecho -client HOST:PORT -conns 50 -seconds 10
//	                                           the peer client: each connection writes "ping-<n>\n" and reads
//	                                           the echoed line, again and again; prints {"requests":N,"seconds":S}
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func serve(addr string) error {
	listener, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Printf("listening on %s\n", listener.Addr())
	os.Stdout.Sync()
	for {
		conn, err := listener.Accept()
		if err != nil {
			return err
		}
		go echo(conn)
	}
}

func echo(conn net.Conn) {
	defer conn.Close()
	reader := bufio.NewReaderSize(conn, 64*1024)
	writer := bufio.NewWriterSize(conn, 64*1024)
	for {
		line, err := reader.ReadSlice('\n')
		if err != nil {
			return
		}
		if _, err := writer.Write(line); err != nil {
			return
		}
		if reader.Buffered() == 0 { // flush once the pipelined input is used up
			if err := writer.Flush(); err != nil {
				return
			}
		}
	}
}

func client(addr string, conns int, seconds float64) error {
	var done atomic.Int64
	var failed atomic.Int64
	deadline := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	var wait sync.WaitGroup
	started := time.Now()
	for i := 0; i < conns; i++ {
		wait.Add(1)
		go func() {
			defer wait.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				failed.Add(1)
				return
			}
			defer conn.Close()
			reader := bufio.NewReader(conn)
			buf := make([]byte, 0, 32)
			for n := 0; time.Now().Before(deadline); n++ {
				buf = append(strconv.AppendInt(append(buf[:0], "ping-"...), int64(n), 10), '\n')
				if _, err := conn.Write(buf); err != nil {
					failed.Add(1)
					return
				}
				if _, err := reader.ReadSlice('\n'); err != nil {
					failed.Add(1)
					return
				}
				done.Add(1)
			}
		}()
	}
	wait.Wait()
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"requests": done.Load(), "errors": failed.Load(), "seconds": time.Since(started).Seconds(),
	})
}

func main() {
	serveAddr := flag.String("serve", "", "serve a line echo on this address")
	clientAddr := flag.String("client", "", "run the peer client against this address")
	conns := flag.Int("conns", 50, "client connections")
	seconds := flag.Float64("seconds", 10, "client duration")
	flag.Parse()
	var err error
	switch {
	case *serveAddr != "":
		err = serve(*serveAddr)
	case *clientAddr != "":
		err = client(*clientAddr, *conns, *seconds)
	default:
		err = fmt.Errorf("give -serve ADDR or -client ADDR")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "tcpecho:", err)
		os.Exit(1)
	}
}

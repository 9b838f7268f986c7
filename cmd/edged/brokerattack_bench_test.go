package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// mqttString is a length-prefixed MQTT string.
func mqttString(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

// mqttPacket frames a packet: header byte, remaining length, body.
func mqttPacket(header byte, body []byte) []byte {
	out := []byte{header}
	n := len(body)
	for {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 128
		}
		out = append(out, b)
		if n == 0 {
			break
		}
	}
	return append(out, body...)
}

// connect311 is an MQTT 3.1.1 CONNECT with a clean session.
func connect311(id string) []byte {
	body := append(mqttString("MQTT"), 4, 2, 0, 60)
	return mqttPacket(0x10, append(body, mqttString(id)...))
}

// declare250MiB sends a CONNECT declaring 250 MiB and up to 32 MiB of it,
// and waits for the broker to close the connection.
func declare250MiB(b *testing.B, addr string) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte{0x10, 0x80, 0x80, 0x80, 0x7d})
	chunk := make([]byte, 64<<10)
	c.SetDeadline(time.Now().Add(60 * time.Second))
	for sent := 0; sent < 32<<20; sent += len(chunk) {
		if _, err := c.Write(chunk); err != nil {
			break
		}
	}
	io.Copy(io.Discard, c)
}

// BenchmarkBrokerAttacks runs the edged binary and measures its RSS
// (VmRSS) idle and after each attack of issue 12 on the embedded broker:
// three concurrent CONNECTs declaring 250 MiB, 2,000 connections, and
// 50,000 retained publishes on distinct topics (with the rate limit off,
// so only the retained limits stand in the way), then after a restart.
func BenchmarkBrokerAttacks(b *testing.B) {
	dir := b.TempDir()
	bin := buildEdged(b, dir)
	for i := 0; i < b.N; i++ {
		data := filepath.Join(dir, fmt.Sprintf("data%d", i))
		cfgFile := filepath.Join(dir, fmt.Sprintf("attack%d.yaml", i))
		os.WriteFile(cfgFile, []byte("http: {listen: \"\"}\nlocal_mqtt: {listen: 127.0.0.1:0, rate_limit: {messages_per_second: 0}}\ndata_dir: "+data+"\n"), 0o644)
		c := startChild(b, bin, cfgFile)
		addr := c.waitLine(b, brokerLine)[1]
		c.waitLine(b, firstDurable)
		time.Sleep(2 * time.Second) // settle
		pid := c.cmd.Process.Pid
		idle := rssKB(pid, "VmRSS")

		var wg sync.WaitGroup
		for range 3 {
			wg.Go(func() { declare250MiB(b, addr) })
		}
		wg.Wait()
		afterBig := rssKB(pid, "VmRSS")

		conns := make([]net.Conn, 0, 2000)
		for range 2000 {
			if conn, err := net.Dial("tcp", addr); err == nil {
				conns = append(conns, conn)
			}
		}
		time.Sleep(time.Second)
		withConns := rssKB(pid, "VmRSS")
		for _, conn := range conns {
			conn.Close()
		}

		pub, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		pub.Write(connect311("flood"))
		r := bufio.NewReader(pub)
		if _, err := io.ReadFull(r, make([]byte, 4)); err != nil { // CONNACK
			b.Fatal(err)
		}
		w := bufio.NewWriterSize(pub, 64<<10)
		for j := range 50000 {
			w.Write(mqttPacket(0x31, append(mqttString(fmt.Sprintf("flood/%d", j)), "21.5"...))) // QoS 0, retained
		}
		w.Write(mqttPacket(0x32, append(append(mqttString("flood/sync"), 0, 1), '1'))) // QoS 1: its PUBACK follows the rest
		w.Flush()
		pub.SetReadDeadline(time.Now().Add(120 * time.Second))
		if _, err := io.ReadFull(r, make([]byte, 4)); err != nil { // PUBACK
			b.Fatal(err)
		}
		pub.Close()
		afterRetained := rssKB(pid, "VmRSS")
		c.cmd.Process.Signal(os.Interrupt)
		c.cmd.Wait()
		fi, _ := os.Stat(filepath.Join(data, "broker.db"))

		c = startChild(b, bin, cfgFile)
		c.waitLine(b, firstDurable)
		time.Sleep(2 * time.Second)
		restarted := rssKB(c.cmd.Process.Pid, "VmRSS")
		c.cmd.Process.Signal(os.Interrupt)
		c.cmd.Wait()

		b.ReportMetric(idle/1024, "MiB_rss_idle")
		b.ReportMetric(afterBig/1024, "MiB_rss_after_3x250MiB_connects")
		b.ReportMetric(withConns/1024, "MiB_rss_with_2000_connections")
		b.ReportMetric(afterRetained/1024, "MiB_rss_after_50000_retained")
		b.ReportMetric(restarted/1024, "MiB_rss_idle_after_restart")
		b.ReportMetric(float64(fi.Size())/(1<<20), "MiB_broker_db")
	}
}

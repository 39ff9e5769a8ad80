package redisview

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// replyServer answers every RESP command with the error line reply, as a
// Redis in that state does (LOADING while it reads its dataset, MOVED on a
// Cluster node that does not own the slot). It stands in for those
// transient states, which a real server cannot be held in on demand.
func replyServer(t *testing.T, reply string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				r := bufio.NewReader(c)
				for {
					line, err := r.ReadString('\n')
					if err != nil {
						return
					}
					if !strings.HasPrefix(line, "*") {
						continue
					}
					var n int
					fmt.Sscanf(line, "*%d", &n)
					for range 2 * n { // $len and the argument
						if _, err := r.ReadString('\n'); err != nil {
							return
						}
					}
					if _, err := c.Write([]byte("-" + reply + "\r\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestErrorKinds: the store marks Redis outages ErrUnavailable from
// go-redis's types and predicates, and leaves other errors unmarked.
func TestErrorKinds(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		reply string
		want  bool
	}{
		{"LOADING Redis is loading the dataset in memory", true},
		{"MOVED 3999 127.0.0.1:6381", true},
		{"ASK 3999 127.0.0.1:6381", true},
		{"TRYAGAIN Multiple keys request during rehashing of slot", true},
		{"CLUSTERDOWN The cluster is down", true},
		{"READONLY You can't write against a read only replica.", true},
		{"WRONGTYPE Operation against a key holding the wrong kind of value", false},
		{"ERR unknown command", false},
	} {
		rdb := redis.NewClient(&redis.Options{Addr: replyServer(t, c.reply), MaxRetries: -1, DialTimeout: time.Second})
		_, err := New(rdb, Options{}).Meta(ctx, "v")
		rdb.Close()
		if err == nil {
			t.Fatalf("%s: Meta succeeded", c.reply)
		}
		if got := errors.Is(err, ErrUnavailable); got != c.want {
			t.Errorf("reply %q: errors.Is(%v, ErrUnavailable) = %v, want %v", c.reply, err, got, c.want)
		}
	}
	// Errors that never came from Redis stay unmarked, whatever they say.
	for _, err := range []error{
		errors.New("loading generation 3: task failed"),
		errors.New("mask"),
		fmt.Errorf("view v: %w", ErrStateMissing),
		redis.Nil,
		redis.ErrClosed,
	} {
		if errors.Is(classify(err), ErrUnavailable) {
			t.Errorf("classify(%v) is ErrUnavailable", err)
		}
	}
}

package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tidemark/tidemark/internal/stack"
)

func freePort(t testing.TB) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// startAPI rewrites the config's api.listen to a free port and starts
// `tidemark run` with the speed and api roles; it returns the base URL once
// /readyz answers 200.
func (e *env) startAPI(t *testing.T) (*proc, string) {
	t.Helper()
	port := freePort(t)
	s := readFile(t, e.cfg)
	s = strings.Replace(s, "listen: 127.0.0.1:0", fmt.Sprintf("listen: 127.0.0.1:%d", port), 1)
	if err := os.WriteFile(e.cfg, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	p := e.start(t, "--roles", "speed,api,batch")
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	deadline := time.Now().Add(90 * time.Second)
	for {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return p, base
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("API at %s not ready within 90s (last: %v)", base, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestDashboardInChromium loads the embedded dashboard in headless Debian
// Chromium against a running stack with a live workload and checks that the
// numbers on the page equal the API's (scripts/dashboard-check.sh).
func TestDashboardInChromium(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a stack and Chromium")
	}
	if _, err := exec.LookPath("chromium"); err != nil {
		stack.Unavailable(t, "chromium not installed (scripts/install-deps.sh browser); the dashboard check needs it")
	}
	if _, err := exec.LookPath("node"); err != nil {
		stack.Unavailable(t, "node not installed (scripts/install-deps.sh browser); the dashboard check drives Chromium with playwright-core")
	}
	e := newEnv(t, envOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	g := e.workload(71, 1)
	if err := g.Seed(ctx, 50, 2000); err != nil {
		t.Fatal(err)
	}
	p, base := e.startAPI(t)
	// A live workload first, then a quiet source for the check itself: the
	// page and the API are compared number by number, which a source
	// changing every few milliseconds would turn into a race.
	if err := g.Run(ctx, 200, 50); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(t.TempDir(), "dashboard.png")
	cmd := exec.Command("bash", filepath.Join(stack.Root(), "scripts", "dashboard-check.sh"), base+"/", shot)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("dashboard check failed: %v\n%s", err, tail(string(out), 4000))
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10000 {
		t.Fatalf("no screenshot saved (%v)", err)
	}
	t.Logf("dashboard check:\n%s", tail(string(out), 2000))
	cancel()
	p.term(t)
}

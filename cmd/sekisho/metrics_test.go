package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
)

// get fetches url and returns its status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// The metrics are served only on the listener --metrics-addr (or
// SEKISHO_METRICS_ADDR) asks for, and stop with the server.
func TestServeMetrics(t *testing.T) {
	for _, how := range []string{"flag", "env"} {
		t.Run(how, func(t *testing.T) {
			c := newTestCLI(t)
			addr, metricsAddr := freeAddr(t), freeAddr(t)
			if how == "flag" {
				c.extra = []string{"--metrics-addr", metricsAddr}
			} else {
				c.env["SEKISHO_METRICS_ADDR"] = metricsAddr
			}
			stderr, stop := startServe(t, c, addr)
			if !strings.Contains(stderr.String(), `"msg":"serving metrics","addr":"`+metricsAddr+`"`) {
				t.Errorf("no \"serving metrics\" log line with the address:\n%s", stderr)
			}

			status, body := get(t, "http://"+metricsAddr+"/metrics")
			if status != http.StatusOK {
				t.Fatalf("GET /metrics: %d\n%s", status, body)
			}
			for _, want := range []string{
				// startServe waited on /healthz, which is now measured.
				`sekisho_http_request_duration_seconds_count{code="200",method="GET",route="/healthz"}`,
				`sekisho_sign_ins_total{method="password",result="success"} 0`,
				"sekisho_db_open_connections ",
				"go_goroutines ",
				"process_resident_memory_bytes ",
			} {
				if !strings.Contains(body, want) {
					t.Errorf("/metrics lacks %q", want)
				}
			}
			if status, body := get(t, "http://"+addr+"/metrics"); status != http.StatusNotFound || strings.Contains(body, "sekisho_") {
				t.Errorf("the public listener answers /metrics: %d", status)
			}

			if err := stop(); err != nil {
				t.Fatalf("serve after cancel: %v\nstderr:\n%s", err, stderr)
			}
			if _, err := http.Get("http://" + metricsAddr + "/metrics"); err == nil {
				t.Error("the metrics listener still answers after stopping")
			}
		})
	}
}

func TestServeMetricsOffByDefault(t *testing.T) {
	c := newTestCLI(t)
	stderr, stop := startServe(t, c, freeAddr(t))
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr.String(), "serving metrics") {
		t.Errorf("metrics served without --metrics-addr:\n%s", stderr)
	}

	for _, bad := range []string{"9090", "localhost"} {
		if err := c.fail("serve", "--metrics-addr", bad); !strings.Contains(err.Error(), "--metrics-addr") || !strings.Contains(err.Error(), "host:port") {
			t.Errorf("--metrics-addr %s: %v", bad, err)
		}
	}
	c.env["SEKISHO_METRICS_ADDR"] = "nonsense"
	if err := c.fail("serve"); !strings.Contains(err.Error(), "SEKISHO_METRICS_ADDR") {
		t.Errorf("SEKISHO_METRICS_ADDR=nonsense: %v", err)
	}
	if out := c.ok("serve", "-h"); !strings.Contains(out, "--metrics-addr") || !strings.Contains(out, "SEKISHO_METRICS_ADDR") {
		t.Errorf("serve -h lacks --metrics-addr:\n%s", out)
	}
}

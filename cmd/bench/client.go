package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// httpConn is a minimal HTTP/1.1 keep-alive client over one connection:
// the load generator. It writes requests prepared as bytes and reads the
// status line, the few headers that frame the body, and the body, which it
// discards unless asked for it. No per-request allocation on the hot path,
// so the client takes little of the CPU it shares with the server.
type httpConn struct {
	addr   string
	c      net.Conn
	r      *bufio.Reader
	used   bool // a response came back on c: a failure may be a keep-alive close
	closed bool
	// lastBody is the body of the last answer with a status of 300 or more
	// when the caller did not ask for the body, to tell errors apart.
	lastBody []byte
}

// requestTimeout bounds one exchange, so that a stuck server fails the run
// instead of hanging it.
const requestTimeout = 2 * time.Minute

func newConn(addr string) *httpConn { return &httpConn{addr: addr, closed: true} }

func (h *httpConn) dial() error {
	c, err := net.DialTimeout("tcp", h.addr, 10*time.Second)
	if err != nil {
		return err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	h.c, h.used, h.closed = c, false, false
	if h.r == nil {
		h.r = bufio.NewReaderSize(c, 32<<10)
	} else {
		h.r.Reset(c)
	}
	return nil
}

func (h *httpConn) Close() {
	if !h.closed {
		h.c.Close()
		h.closed, h.used = true, false
	}
}

// do sends req, a complete request, and reads the answer. With body
// non-nil the response body replaces *body; otherwise it is discarded.
// A request that fails on a connection that already carried a response
// (the server may close idle keep-alive connections) is sent once more on
// a new connection, as HTTP clients do.
func (h *httpConn) do(req []byte, body *[]byte) (int, error) {
	status, err := h.once(req, body)
	if err != nil && h.retryable() {
		h.Close()
		status, err = h.once(req, body)
	}
	if err != nil {
		h.Close()
	}
	return status, err
}

// retryable reports whether the last failure happened on a reused
// connection before any byte of the answer arrived.
func (h *httpConn) retryable() bool { return h.used && h.r.Buffered() == 0 }

func (h *httpConn) once(req []byte, body *[]byte) (int, error) {
	if h.closed {
		if err := h.dial(); err != nil {
			return 0, err
		}
	}
	h.c.SetDeadline(time.Now().Add(requestTimeout))
	if _, err := h.c.Write(req); err != nil {
		return 0, err
	}
	status, err := h.readResponse(body)
	if err != nil {
		return status, err
	}
	h.used = true
	return status, nil
}

var errMalformed = errors.New("malformed HTTP response")

func (h *httpConn) readResponse(body *[]byte) (int, error) {
	line, err := h.line()
	if err != nil {
		return 0, err
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return 0, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("%w: status line %q", errMalformed, line)
	}
	length, chunked, closeAfter := int64(-1), false, false
	for {
		line, err := h.line()
		if err != nil {
			return status, err
		}
		if len(line) == 0 {
			break
		}
		switch {
		case hasPrefixFold(line, "content-length:"):
			n, err := strconv.ParseInt(string(bytes.TrimSpace(line[len("content-length:"):])), 10, 64)
			if err != nil || n < 0 {
				return status, fmt.Errorf("%w: %q", errMalformed, line)
			}
			length = n
		case hasPrefixFold(line, "transfer-encoding:"):
			chunked = bytes.Contains(bytes.ToLower(line), []byte("chunked"))
		case hasPrefixFold(line, "connection:"):
			closeAfter = bytes.Contains(bytes.ToLower(line), []byte("close"))
		}
	}
	if body == nil && status >= 300 {
		body = &h.lastBody
	}
	if body != nil {
		*body = (*body)[:0]
	}
	switch {
	case status == 204 || status == 304 || (status >= 100 && status < 200):
	case chunked:
		err = h.chunkedBody(body)
	case length >= 0:
		err = h.readN(length, body)
	default:
		// No framing: the body runs to the end of the connection.
		var b []byte
		b, err = io.ReadAll(h.r)
		if body != nil {
			*body = append(*body, b...)
		}
		closeAfter = true
	}
	if err != nil {
		return status, err
	}
	if closeAfter {
		h.Close()
	}
	return status, nil
}

// line returns the next line without its CRLF. A line longer than the
// buffer (a long header) is consumed, and only its start returned: the
// headers that matter are short.
func (h *httpConn) line() ([]byte, error) {
	line, err := h.r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		start := append([]byte(nil), line[:64]...)
		for errors.Is(err, bufio.ErrBufferFull) {
			_, err = h.r.ReadSlice('\n')
		}
		return start, err
	}
	if err != nil {
		if errors.Is(err, io.EOF) && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	return bytes.TrimRight(line, "\r\n"), nil
}

func (h *httpConn) readN(n int64, body *[]byte) error {
	if body == nil {
		_, err := h.r.Discard(int(n))
		return err
	}
	start := len(*body)
	*body = append(*body, make([]byte, n)...)
	_, err := io.ReadFull(h.r, (*body)[start:])
	return err
}

func (h *httpConn) chunkedBody(body *[]byte) error {
	for {
		line, err := h.line()
		if err != nil {
			return err
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("%w: chunk size %q", errMalformed, line)
		}
		if n == 0 {
			for { // trailers, up to the empty line
				line, err := h.line()
				if err != nil {
					return err
				}
				if len(line) == 0 {
					return nil
				}
			}
		}
		if err := h.readN(n, body); err != nil {
			return err
		}
		if crlf, err := h.line(); err != nil || len(crlf) != 0 {
			return fmt.Errorf("%w: chunk not followed by CRLF", errMalformed)
		}
	}
}

func hasPrefixFold(b []byte, prefix string) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], []byte(prefix))
}

// request returns the bytes of an HTTP/1.1 request. headers are complete
// lines without CRLF ("Authorization: Bearer …"); a non-nil body is sent as
// JSON.
func request(method, host, path string, body []byte, headers ...string) []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: sekisho-bench\r\n", method, path, host)
	for _, h := range headers {
		b.WriteString(h + "\r\n")
	}
	if body != nil {
		fmt.Fprintf(&b, "Content-Type: application/json\r\nContent-Length: %d\r\n", len(body))
	}
	b.WriteString("\r\n")
	b.Write(body)
	return b.Bytes()
}

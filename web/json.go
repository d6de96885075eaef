package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/sekisho/sekisho"
)

// maxBody bounds every JSON request body.
const maxBody = 64 << 10

type errorJSON struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

func errorBody(code, message string) any {
	return map[string]errorJSON{"error": {Code: code, Message: message}}
}

// statusOf maps each error kind to its HTTP status: the one place where
// domain errors meet HTTP.
func statusOf(k sekisho.Kind) int {
	switch k {
	case sekisho.KindInvalid:
		return http.StatusBadRequest
	case sekisho.KindUnauthorized:
		return http.StatusUnauthorized
	case sekisho.KindForbidden:
		return http.StatusForbidden
	case sekisho.KindNotFound:
		return http.StatusNotFound
	case sekisho.KindConflict:
		return http.StatusConflict
	case sekisho.KindThrottled:
		return http.StatusTooManyRequests
	case sekisho.KindUnavailable:
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

// writeError answers with err in the API's error format. Errors that are
// not *sekisho.Error are internal: logged with the request id, never shown.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var e *sekisho.Error
	if !errors.As(err, &e) {
		var me *http.MaxBytesError
		switch {
		case errors.As(err, &me):
			writeJSON(w, http.StatusRequestEntityTooLarge, errorBody("request_too_large", fmt.Sprintf("The request body is larger than %d bytes.", maxBody)))
			return
		case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
			return // the client went away
		}
		s.log.ErrorContext(r.Context(), "request failed", "request_id", requestID(r.Context()), "err", err)
		writeJSON(w, http.StatusInternalServerError, errorBody("internal_error", "Something went wrong on our side. Try again."))
		return
	}
	noteError(w, e.Code)
	setRetryAfter(w, e)
	writeJSON(w, statusOf(e.Kind), map[string]errorJSON{"error": {Code: e.Code, Message: e.Message, Field: e.Field}})
}

// setRetryAfter tells the client when to try again, for the errors that
// say (throttled, unavailable), on API answers and pages alike.
func setRetryAfter(w http.ResponseWriter, e *sekisho.Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
}

var jsonHeaders = fixedHeaders(
	"Content-Type", "application/json; charset=utf-8",
	"Cache-Control", "no-store",
)

func writeJSON(w http.ResponseWriter, status int, v any) {
	noteAnswer(w, v)
	jsonHeaders.set(w)
	w.WriteHeader(status)
	if a, ok := v.(jsonAppender); ok {
		bp := answerBufs.Get().(*[]byte)
		*bp = append(a.appendJSON((*bp)[:0]), '\n')
		w.Write(*bp)
		answerBufs.Put(bp)
		return
	}
	json.NewEncoder(w).Encode(v)
}

// jsonAppender is an answer that encodes itself byte for byte as
// encoding/json would (TestAppendJSON holds the two equal), without
// reflection. Only the session check's answer does: apps call it on every
// request they serve, and encoding/json took a third of its CPU.
type jsonAppender interface {
	appendJSON(b []byte) []byte
}

var answerBufs = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

// appendJSONString appends s as encoding/json encodes a string. Strings that
// need no escaping, the usual ids, slugs and emails, are copied; the rest
// (names in Japanese, say) go through encoding/json, which then decides
// every escape.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendJSONTime appends t as time.Time's MarshalJSON writes it, for the
// years 0 to 9999 that sekisho's clock produces.
func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// decode reads a JSON request body into v strictly: one object, known
// fields only, at most maxBody bytes. An empty body decodes as {} so that
// endpoints whose fields are all optional accept it.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || mt != "application/json" {
			return sekisho.Errorf(sekisho.KindInvalid, "unsupported_media_type", "Send the request body as application/json.")
		}
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return err // 413, in writeError
		}
		// A body that ends before its Content-Length, or breaks its
		// chunked framing: bad input (or a client gone), not our failure.
		return sekisho.Errorf(sekisho.KindInvalid, "invalid_json", "The request body could not be read to its end.")
	}
	// encoding/json would turn invalid UTF-8 into U+FFFD, so that two
	// different passwords or codes could compare equal; and PostgreSQL
	// refuses NUL in text, which JSON writes \u0000 (the test also refuses
	// that text escaped as \\u0000, which no field needs).
	if !utf8.Valid(body) || bytes.Contains(body, []byte(`\u0000`)) {
		return sekisho.Errorf(sekisho.KindInvalid, "invalid_json", "The request body must be UTF-8 text without NUL characters.")
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		body = []byte("{}")
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	// Nothing may follow the object but space. (More alone misses a stray
	// closing bracket: it reports no further element before one.)
	if _, err := dec.Token(); err != io.EOF {
		return sekisho.Errorf(sekisho.KindInvalid, "invalid_json", "The request body must be a single JSON object.")
	}
	return checkKeys(body, v)
}

// jsonError explains a decoding failure to the client.
func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn), errors.Is(err, io.ErrUnexpectedEOF):
		return sekisho.Errorf(sekisho.KindInvalid, "invalid_json", "The request body is not valid JSON.")
	case errors.As(err, &typ):
		if typ.Field == "" {
			return sekisho.Errorf(sekisho.KindInvalid, "invalid_json", "The request body must be a JSON object.")
		}
		// Bodies are flat objects, but Go names a field promoted from an
		// embedded struct (proof) by its path, which is not the wire name.
		field := typ.Field[strings.LastIndexByte(typ.Field, '.')+1:]
		e := sekisho.Errorf(sekisho.KindInvalid, "invalid_field_type", "The field %q must be a %s.", field, jsonType(typ.Type.String()))
		e.Field = field
		return e
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return unknownField(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`))
	default:
		return sekisho.Errorf(sekisho.KindInvalid, "invalid_json", "The request body is not valid JSON.")
	}
}

func jsonType(goType string) string {
	switch {
	case strings.Contains(goType, "string"):
		return "string"
	case strings.Contains(goType, "bool"):
		return "boolean"
	case strings.Contains(goType, "int"):
		return "whole number"
	default:
		return "value of another type"
	}
}

func unknownField(field string) error {
	e := sekisho.Errorf(sekisho.KindInvalid, "unknown_field", "The field %q is not accepted here.", field)
	e.Field = field
	return e
}

// checkKeys refuses what encoding/json lets through in an object's keys: a
// key given twice, where the last would silently win (so a proxy or app in
// front of sekisho that keeps the first would read another request than
// sekisho does), and a key that names a field only when case is ignored.
// It runs on bodies that decoded, so it meets no syntax error.
func checkKeys(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	names := fieldNames(reflect.TypeOf(v))
	seen := make(map[string]bool)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil
		}
		key, _ := t.(string)
		if seen[key] {
			e := sekisho.Errorf(sekisho.KindInvalid, "duplicate_field", "The field %q is given more than once.", key)
			e.Field = key
			return e
		}
		seen[key] = true
		if names != nil && !names[key] {
			return unknownField(key)
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

// fieldNames are the JSON names of a struct's fields, embedded structs'
// included; nil for anything but a struct, whose keys are not checked.
func fieldNames(t reflect.Type) map[string]bool {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	if names, ok := fieldNamesCache.Load(t); ok {
		return names.(map[string]bool)
	}
	names := make(map[string]bool)
	for i := range t.NumField() {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		switch {
		case name == "-" && tag == "-":
			continue
		case f.Anonymous && name == "":
			maps.Copy(names, fieldNames(f.Type))
			continue
		case !f.IsExported():
			continue
		case name == "":
			name = f.Name
		}
		names[name] = true
	}
	fieldNamesCache.Store(t, names)
	return names
}

var fieldNamesCache sync.Map // reflect.Type → map[string]bool

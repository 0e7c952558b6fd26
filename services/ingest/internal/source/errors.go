package source

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Error is a problem with a payload that the sender can fix. Path names the
// field (alerts[2].status); it is empty for problems with the body as a whole.
type Error struct {
	Path    string
	Problem string
}

func (e *Error) Error() string {
	if e.Path == "" {
		return e.Problem
	}
	return e.Path + ": " + e.Problem
}

// FieldErr returns an *Error for the field at path.
func FieldErr(path, format string, args ...any) *Error {
	return &Error{Path: path, Problem: fmt.Sprintf(format, args...)}
}

// JoinPath appends a JSON field name to a path, e.g. ("alerts[2]", "status").
func JoinPath(path, field string) string {
	switch {
	case path == "":
		return field
	case field == "":
		return path
	default:
		return path + "." + field
	}
}

// DecodeBody decodes a whole request body. json.Unmarshal checks the entire
// document's syntax before decoding anything, so a syntax error is always
// reported (with its line and column) ahead of any type error.
func DecodeBody(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return &Error{Problem: "empty body: expected a JSON object"}
	}
	if err := json.Unmarshal(body, v); err != nil {
		return jsonError(body, "", err)
	}
	return nil
}

// DecodeElement decodes one already-valid JSON value (an entry of alerts[])
// so that type errors can be reported under that entry's path. strict rejects
// unknown fields, for AMS's own format where a misspelt field is a mistake.
func DecodeElement(data []byte, path string, v any, strict bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		return jsonError(data, path, err)
	}
	return nil
}

// jsonError rewrites encoding/json's errors as *Error with a field path and,
// for syntax errors, the line and column where the body stopped making sense.
func jsonError(data []byte, path string, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		line, col, pos := position(data, syn.Offset, strings.Contains(syn.Error(), "unexpected end"))
		return &Error{Path: path, Problem: fmt.Sprintf("invalid JSON at line %d, column %d (byte offset %d): %s", line, col, pos, syn.Error())}
	case errors.As(err, &typ):
		p := JoinPath(path, typ.Field)
		if p == "" {
			p = "body"
		}
		return &Error{Path: p, Problem: fmt.Sprintf("expected %s, got %s", kind(typ.Type), typ.Value)}
	default:
		// DisallowUnknownFields reports `json: unknown field "x"`; json exposes no type for it.
		msg := strings.TrimPrefix(err.Error(), "json: ")
		if path == "" {
			path = "body"
		}
		return &Error{Path: path, Problem: msg}
	}
}

// position turns a json.SyntaxError offset (bytes read when the error was
// found) into the 1-based line and column of the offending byte, or of the
// end of the body when the body ended too soon.
func position(data []byte, offset int64, atEnd bool) (line, col int, pos int64) {
	if !atEnd {
		offset--
	}
	pos = max(0, min(offset, int64(len(data))))
	before := data[:pos]
	line = 1 + bytes.Count(before, []byte("\n"))
	col = int(pos) - bytes.LastIndexByte(before, '\n')
	return line, col, pos
}

// kind names what a Go type expects in JSON terms for an error message.
func kind(t reflect.Type) string {
	if t == nil {
		return "a different type"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	default:
		return t.String()
	}
}

// Ignored is returned by a parser for a well-formed request that carries no
// alert: a PagerDuty ping, an event type AMS does not track. Ingest answers
// it with success and stores nothing, because a sender whose deliveries
// fail disables or retries the endpoint.
type Ignored struct {
	// Reason says why, for the response body and the log.
	Reason string
}

func (e *Ignored) Error() string { return "ignored: " + e.Reason }

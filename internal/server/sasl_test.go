package server_test

import (
	"bytes"
	"errors"
	"testing"

	"mailroom/internal/server"
)

// steps is a mechanism that wants the responses "a" then "b", and
// succeeds with final.
func steps(final string) func([]byte) ([]byte, bool, error) {
	n := 0
	return func(resp []byte) ([]byte, bool, error) {
		n++
		switch {
		case n == 1 && resp == nil:
			return []byte("first?"), false, nil
		case n == 2 && string(resp) == "a":
			return []byte("second?"), false, nil
		case n == 3 && string(resp) == "b":
			return []byte(final), true, nil
		}
		return nil, false, errors.New("bad response")
	}
}

func TestExchange(t *testing.T) {
	tests := []struct {
		name      string
		final     string
		inChal    bool
		responses []string
		want      string
		wantErr   error
		wantChals int
	}{
		{"data with success", "v=1", false, []string{"a", "b"}, "v=1", nil, 2},
		{"data in a last challenge", "v=1", true, []string{"a", "b", ""}, "", nil, 3},
		{"last challenge not empty", "v=1", true, []string{"a", "b", "x"}, "", server.ErrNotEmpty, 3},
		{"no data", "", true, []string{"a", "b"}, "", nil, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chals := 0
			challenge := func(ch []byte) ([]byte, error) {
				if chals >= len(tt.responses) {
					t.Fatalf("challenge %q not expected", ch)
				}
				r := tt.responses[chals]
				chals++
				return []byte(r), nil
			}
			got, err := server.Exchange(steps(tt.final), nil, challenge, tt.inChal)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if string(got) != tt.want || chals != tt.wantChals {
				t.Errorf("got %q after %d challenges, want %q after %d", got, chals, tt.want, tt.wantChals)
			}
		})
	}
}

func TestInitialResponse(t *testing.T) {
	tests := []struct {
		ir   string
		have bool
		want []byte
		err  error
	}{
		{"", false, nil, nil},
		{"=", true, []byte{}, nil},
		{"aGk=", true, []byte("hi"), nil},
		{"!!", true, nil, server.ErrInvalidBase64},
	}
	for _, tt := range tests {
		got, err := server.InitialResponse(tt.ir, tt.have)
		if !errors.Is(err, tt.err) || !bytes.Equal(got, tt.want) || (got == nil) != (tt.want == nil) {
			t.Errorf("InitialResponse(%q, %v) = %q, %v; want %q, %v", tt.ir, tt.have, got, err, tt.want, tt.err)
		}
	}
}

func TestPreAuthLimit(t *testing.T) {
	l := server.PreAuthLimit{Max: 2}
	for i, want := range []bool{false, false, true} {
		if got := l.Exceeded(); got != want {
			t.Errorf("command %d: Exceeded = %v", i+1, got)
		}
	}
	var unlimited server.PreAuthLimit
	for range 100 {
		if unlimited.Exceeded() {
			t.Fatal("Max 0 is unlimited")
		}
	}
}

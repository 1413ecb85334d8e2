package sasl

import (
	"errors"
	"testing"
)

func TestLoginServer(t *testing.T) {
	tests := []struct {
		name      string
		ir        []byte // nil: no initial response
		responses []string
		wantUser  string
		wantPass  string
		wantErr   error
	}{
		{"challenges", nil, []string{"alice@example.org", "secret pw"}, "alice@example.org", "secret pw", nil},
		{"initial response", []byte("alice@example.org"), []string{"secret"}, "alice@example.org", "secret", nil},
		{"empty initial response", []byte{}, nil, "", "", ErrMalformed},
		{"empty user", nil, []string{""}, "", "", ErrMalformed},
		{"bad UTF-8 user", nil, []string{"\xff"}, "", "", ErrMalformed},
		{"empty password", nil, []string{"alice@example.org", ""}, "", "", ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := NewLoginServer()
			ch, done, err := l.Next(tt.ir)
			for _, r := range tt.responses {
				if err != nil || done {
					break
				}
				want := "Password:"
				if l.step == 1 {
					want = "Username:"
				}
				if string(ch) != want {
					t.Fatalf("challenge %q, want %q", ch, want)
				}
				ch, done, err = l.Next([]byte(r))
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || !done || ch != nil || l.Username != tt.wantUser || l.Password != tt.wantPass {
				t.Fatalf("got %q %v %v user %q pass %q", ch, done, err, l.Username, l.Password)
			}
			if _, _, err := l.Next([]byte("more")); !errors.Is(err, ErrMalformed) {
				t.Fatalf("after the end: %v", err)
			}
		})
	}
}

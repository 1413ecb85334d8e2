package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseLimits(t *testing.T) {
	tests := []struct {
		name    string
		toml    string
		want    func(l *LimitsConfig)
		wantErr string
	}{
		{"defaults", "", func(l *LimitsConfig) {}, ""},
		{"durations", `[limits]
login_delay = "50ms"
login_max_delay = "1m30s"
lockout = "2h"
pre_login_timeout = "10s"
exempt_networks = ["192.0.2.0/24"]
max_connections_per_ip = 0
`, func(l *LimitsConfig) {
			l.LoginDelay = Duration(50 * time.Millisecond)
			l.LoginMaxDelay = Duration(90 * time.Second)
			l.Lockout = Duration(2 * time.Hour)
			l.PreLoginTimeout = Duration(10 * time.Second)
			l.ExemptNetworks = []string{"192.0.2.0/24"}
			l.MaxConnectionsPerIP = 0
		}, ""},
		{"bad duration", "[limits]\nlockout = \"15 minutes\"\n", nil, `lockout`},
		{"number duration", "[limits]\nlockout = 15\n", nil, `lockout`},
		{"unknown key", "[limits]\nmax_connection = 5\n", nil, `config: unknown key "limits.max_connection"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.toml), "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse = %v, want error containing %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("error is not one line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := Default().Limits
			tt.want(&want)
			if got := c.Limits; !reflect.DeepEqual(got, want) {
				t.Fatalf("got %+v\nwant %+v", got, want)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestValidateLimits(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(l *LimitsConfig)
		wantErr string
	}{
		{"all off", func(l *LimitsConfig) {
			*l = LimitsConfig{LoginForget: Duration(time.Hour), PreLoginTimeout: Duration(time.Minute)}
		}, ""},
		{"negative per ip", func(l *LimitsConfig) { l.MaxConnectionsPerIP = -1 }, `config: limits.max_connections_per_ip: must not be negative`},
		{"negative total", func(l *LimitsConfig) { l.MaxConnections = -1 }, `config: limits.max_connections:`},
		{"negative commands", func(l *LimitsConfig) { l.MaxCommandsBeforeLogin = -1 }, `config: limits.max_commands_before_login:`},
		{"negative mailboxes", func(l *LimitsConfig) { l.MaxMailboxes = -1 }, `config: limits.max_mailboxes:`},
		{"negative free", func(l *LimitsConfig) { l.LoginFreeFailures = -1 }, `config: limits.login_free_failures:`},
		{"negative delay", func(l *LimitsConfig) { l.LoginDelay = Duration(-time.Second) }, `config: limits.login_delay: must not be negative, got "-1s"`},
		{"max below delay", func(l *LimitsConfig) { l.LoginMaxDelay = Duration(500 * time.Millisecond) }, `config: limits.login_max_delay: must be at least limits.login_delay (1s), got "500ms"`},
		{"zero forget", func(l *LimitsConfig) { l.LoginForget = 0 }, `config: limits.login_forget: must be greater than 0`},
		{"lockout without time", func(l *LimitsConfig) { l.Lockout = 0 }, `config: limits.lockout: must be greater than 0`},
		{"lockout off", func(l *LimitsConfig) { l.Lockout, l.LockoutFailures = 0, 0 }, ""},
		{"zero pre-login timeout", func(l *LimitsConfig) { l.PreLoginTimeout = 0 }, `config: limits.pre_login_timeout:`},
		{"bad exempt", func(l *LimitsConfig) { l.ExemptNetworks = []string{"localhost"} }, `config: limits.exempt_networks: each entry must be a network`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(&c.Limits)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestFormatDuration(t *testing.T) {
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "0s"}, {50 * time.Millisecond, "50ms"}, {time.Second, "1s"}, {90 * time.Second, "1m30s"},
		{15 * time.Minute, "15m"}, {time.Hour, "1h"}, {time.Hour + time.Second, "1h0m1s"}, {90 * time.Minute, "1h30m"},
	}
	for _, tt := range tests {
		if got := FormatDuration(tt.in); got != tt.want {
			t.Errorf("FormatDuration(%v) = %q, want %q", tt.in, got, tt.want)
		}
		var d Duration
		if err := d.UnmarshalText([]byte(FormatDuration(tt.in))); err != nil || time.Duration(d) != tt.in {
			t.Errorf("round trip of %v: %v, %v", tt.in, time.Duration(d), err)
		}
	}
}

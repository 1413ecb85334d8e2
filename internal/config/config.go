// Package config loads mailroom's TOML configuration file.
//
// Parsing is strict: a key the program does not know, anywhere in the file,
// is an error naming the key (with its full dotted path), so that a typo
// never silently falls back to a default. Key names are matched exactly
// (case-sensitively). Render produces a commented file documenting every key;
// Load accepts it unchanged.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration file.
type Config struct {
	// Hostname is the server's name, used in greetings and Received headers.
	// Default: os.Hostname().
	Hostname string `toml:"hostname"`
	// DataDir holds the store. A relative path in a file is relative to the
	// directory of that file (Load resolves it to an absolute path).
	DataDir  string         `toml:"data_dir"`
	Log      LogConfig      `toml:"log"`
	Debug    DebugConfig    `toml:"debug"`
	Listen   ListenConfig   `toml:"listen"`
	Storage  StorageConfig  `toml:"storage"`
	Delivery DeliveryConfig `toml:"delivery"`
	Quota    QuotaConfig    `toml:"quota"`
	POP3     POP3Config     `toml:"pop3"`
	Sieve    SieveConfig    `toml:"sieve"`
	Relay    RelayConfig    `toml:"relay"`
	TLS      TLSConfig      `toml:"tls"`
	Auth     AuthConfig     `toml:"auth"`
	Limits   LimitsConfig   `toml:"limits"`
}

// LogConfig is the [log] section.
type LogConfig struct {
	Level string `toml:"level"` // "debug", "info" (default), "warn" or "error"
}

// DebugConfig is the [debug] section: what helps find out why the server
// is slow or big, off by default.
type DebugConfig struct {
	// Pprof is the "host:port" where Go's profiling endpoints
	// (net/http/pprof, under /debug/pprof/) are served; "" is off. They
	// have no authentication, so it belongs on loopback.
	Pprof string `toml:"pprof"`
}

// ListenConfig is the [listen] section: one "host:port" per protocol, ""
// for off.
type ListenConfig struct {
	SMTP        string `toml:"smtp"`
	LMTP        string `toml:"lmtp"`
	IMAP        string `toml:"imap"`
	IMAPS       string `toml:"imaps"`
	POP3        string `toml:"pop3"`
	POP3S       string `toml:"pop3s"`
	ManageSieve string `toml:"managesieve"`
}

// StorageConfig is the [storage] section.
type StorageConfig struct {
	Backend string `toml:"backend"` // "sqlite" (default) or "postgres" (not available yet)
}

// DeliveryConfig is the [delivery] section.
type DeliveryConfig struct {
	// RecipientDelimiter holds the subaddress delimiter characters (RFC
	// 5233); each character is a delimiter, like Postfix's
	// recipient_delimiter. "" disables subaddressing. Default "+".
	RecipientDelimiter string `toml:"recipient_delimiter"`
	// PlusFolder delivers user+folder@domain into the mailbox "folder" when
	// it exists.
	PlusFolder bool `toml:"plus_folder"`
	// PlusFolderCreate also creates that mailbox when it does not exist.
	PlusFolderCreate bool `toml:"plus_folder_create"`
	// MaxMessageSize is the largest message accepted. Default 50M.
	MaxMessageSize Size `toml:"max_message_size"`
	// Postmaster is the account that gets mail for postmaster@ a local
	// domain that has no such account, alias or catch-all (RFC 5321
	// §4.5.1 requires that address). Default "": the domain's oldest
	// account.
	Postmaster string `toml:"postmaster"`
}

// QuotaConfig is the [quota] section: defaults for accounts created without
// their own quota.
type QuotaConfig struct {
	Default         Size   `toml:"default"`          // bytes; 0 = unlimited
	DefaultMessages int64  `toml:"default_messages"` // messages; 0 = unlimited
	Full            string `toml:"full"`             // "temporary" (default) or "permanent"
}

// POP3Config is the [pop3] section.
type POP3Config struct {
	// Delete is what DELE+QUIT does: "expunge" (RFC 1939: the message is
	// gone for every client) or "hide" (hidden from POP3 only).
	Delete string `toml:"delete"`
	// View is which messages POP3 sees: "inbox" or "all" (every mailbox but
	// those whose special use is listed in ViewExclude).
	View string `toml:"view"`
	// ViewExclude lists the special uses left out of view = "all".
	ViewExclude []string `toml:"view_exclude"`
	// MarkSeen makes RETR set \Seen, visible to IMAP devices.
	MarkSeen bool `toml:"mark_seen"`
	// Lock refuses a second concurrent session of one account ([IN-USE]).
	Lock bool `toml:"lock"`
	// Expire is the EXPIRE capability (RFC 2449) in days; -1 announces NEVER.
	// It is advice to clients: the server does not delete mail by age.
	Expire int `toml:"expire"`
	// LoginDelay is the LOGIN-DELAY capability (RFC 2449) in seconds,
	// enforced between two logins of one account; 0 is off.
	LoginDelay int `toml:"login_delay"`
}

// SieveConfig is the [sieve] section.
type SieveConfig struct {
	MaxScriptSize Size `toml:"max_script_size"` // largest script accepted
	MaxScripts    int  `toml:"max_scripts"`     // scripts per account
	// MaxRedirects is how many redirect actions one script may perform for
	// one message.
	MaxRedirects int `toml:"max_redirects"`
	// VacationMinPeriod is the shortest time between two vacation replies
	// to one sender (RFC 5230 §4.1); shorter :days or :seconds are raised
	// to it. 0 lets a script reply to every message.
	VacationMinPeriod Duration `toml:"vacation_min_period"`
}

// RelayConfig is the [relay] section: where mail that filters send
// (vacation replies, redirects) is handed over.
type RelayConfig struct {
	Address  string `toml:"address"`  // "host:port" of an SMTP relay; "" keeps mail queued
	Username string `toml:"username"` // SMTP AUTH PLAIN user; "" for none
	Password string `toml:"password"`
	// TLS is "starttls" (required), "implicit" (TLS from the first byte) or
	// "none".
	TLS string `toml:"tls"`
	// InsecureSkipVerify accepts any certificate from the relay.
	InsecureSkipVerify bool `toml:"insecure_skip_verify"`
	// MaxAge is how long a queued message is tried before it fails: a
	// redirect is then bounced to the account that made it.
	MaxAge Duration `toml:"max_age"`
	// MaxQueued bounds the bytes queued for all accounts; MaxQueuedPerAccount
	// those of one account (its storage quota bounds them too). Past them a
	// redirect keeps the message instead and no vacation reply is sent.
	MaxQueued           Size `toml:"max_queued"`
	MaxQueuedPerAccount Size `toml:"max_queued_per_account"`
}

// TLSConfig is the [tls] section: the certificate every listener offers.
// Both paths are set or neither; relative ones are relative to the
// directory of the file, like data_dir (Parse resolves them).
type TLSConfig struct {
	Cert string `toml:"cert"` // PEM certificate chain, leaf first
	Key  string `toml:"key"`  // PEM private key of Cert
	// ACME gets certificates for the hostname from an ACME CA (RFC 8555;
	// Let's Encrypt by default) instead of Cert and Key, answering the
	// CA's http-01 challenges on ACMEHTTP, and keeps them in the data dir.
	ACME          bool   `toml:"acme"`
	ACMEEmail     string `toml:"acme_email"`
	ACMEDirectory string `toml:"acme_directory"`
	ACMEHTTP      string `toml:"acme_http"`
}

// Enabled reports whether a certificate is configured.
func (t TLSConfig) Enabled() bool { return t.Cert != "" || t.Key != "" || t.ACME }

// AuthConfig is the [auth] section.
type AuthConfig struct {
	// TrustedNetworks lists the networks (CIDR prefixes, or single
	// addresses) whose clients may send a password without TLS. Empty
	// trusts nothing.
	TrustedNetworks []string `toml:"trusted_networks"`
}

// Networks parses TrustedNetworks. A bare address is a prefix of its full
// length ("192.0.2.1" is "192.0.2.1/32").
func (a AuthConfig) Networks() ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, s := range a.TrustedNetworks {
		p, err := parseNetwork(s)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

func parseNetwork(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil || p.Addr().Zone() != "" {
			return netip.Prefix{}, fmt.Errorf(`each entry must be a network such as "192.0.2.0/24" or "2001:db8::/32", got %q`, s)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil || a.Zone() != "" {
		return netip.Prefix{}, fmt.Errorf(`each entry must be a network such as "192.0.2.0/24" or "2001:db8::/32", got %q`, s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// LimitsConfig is the [limits] section: what keeps one client from hurting
// the others. Zero turns a count limit off.
type LimitsConfig struct {
	// LoginFreeFailures failed logins from one address are answered
	// without extra delay; after that each attempt from the address waits
	// LoginDelay, doubling per failure up to LoginMaxDelay.
	LoginFreeFailures int      `toml:"login_free_failures"`
	LoginDelay        Duration `toml:"login_delay"`
	LoginMaxDelay     Duration `toml:"login_max_delay"`
	// LoginForget is how long after its last failed login an address (or
	// an account) starts again with a clean record.
	LoginForget Duration `toml:"login_forget"`
	// LockoutFailures failed logins of one account lock it for Lockout
	// against the addresses that have failed logins.
	LockoutFailures int      `toml:"lockout_failures"`
	Lockout         Duration `toml:"lockout"`
	// MaxConnectionsPerIP and MaxConnections bound open connections per
	// client address (an IPv6 client's /64) and in all, over every listener.
	MaxConnectionsPerIP int `toml:"max_connections_per_ip"`
	MaxConnections      int `toml:"max_connections"`
	// MaxCommandsBeforeLogin is how many commands an IMAP, POP3 or
	// ManageSieve connection may send before logging in.
	MaxCommandsBeforeLogin int `toml:"max_commands_before_login"`
	// PreLoginTimeout bounds the wait for each command before login (IMAP,
	// ManageSieve).
	PreLoginTimeout Duration `toml:"pre_login_timeout"`
	// MaxMailboxes bounds the mailboxes of one account.
	MaxMailboxes int `toml:"max_mailboxes"`
	// ExemptNetworks lists networks whose clients are neither slowed after
	// failed logins nor held to MaxConnectionsPerIP.
	ExemptNetworks []string `toml:"exempt_networks"`
}

// Exempt parses ExemptNetworks.
func (l LimitsConfig) Exempt() ([]netip.Prefix, error) {
	var ps []netip.Prefix
	for _, s := range l.ExemptNetworks {
		p, err := parseNetwork(s)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ps, nil
}

// DefaultLimits is the default [limits] section.
var DefaultLimits = LimitsConfig{
	LoginFreeFailures:      5,
	LoginDelay:             Duration(time.Second),
	LoginMaxDelay:          Duration(30 * time.Second),
	LoginForget:            Duration(time.Hour),
	LockoutFailures:        10,
	Lockout:                Duration(15 * time.Minute),
	MaxConnectionsPerIP:    50,
	MaxConnections:         10000,
	MaxCommandsBeforeLogin: 50,
	PreLoginTimeout:        Duration(time.Minute),
	MaxMailboxes:           10000,
}

func defaultLimits() LimitsConfig {
	l := DefaultLimits
	l.ExemptNetworks = []string{}
	return l
}

// DefaultTrustedNetworks is the default auth.trusted_networks: loopback.
var DefaultTrustedNetworks = []string{"127.0.0.0/8", "::1/128"}

// Values of the enumerated keys.
const (
	BackendSQLite   = "sqlite"
	BackendPostgres = "postgres"

	QuotaFullTemporary = "temporary"
	QuotaFullPermanent = "permanent"

	LogDebug = "debug"
	LogInfo  = "info"
	LogWarn  = "warn"
	LogError = "error"

	POP3DeleteExpunge = "expunge"
	POP3DeleteHide    = "hide"
	POP3ViewInbox     = "inbox"
	POP3ViewAll       = "all"

	RelayTLSStartTLS = "starttls"
	RelayTLSImplicit = "implicit"
	RelayTLSNone     = "none"
)

// DefaultDataDir is the default data_dir.
const DefaultDataDir = "./mailroom-data"

// DefaultMaxMessageSize is the default delivery.max_message_size.
const DefaultMaxMessageSize Size = 50 << 20

// Default returns the built-in configuration. Its DataDir is relative (to the
// current directory when used as is).
func Default() *Config {
	return &Config{
		Hostname: defaultHostname(),
		DataDir:  DefaultDataDir,
		Log:      LogConfig{Level: LogInfo},
		Storage:  StorageConfig{Backend: BackendSQLite},
		Delivery: DeliveryConfig{
			RecipientDelimiter: "+",
			MaxMessageSize:     DefaultMaxMessageSize,
		},
		Quota: QuotaConfig{Full: QuotaFullTemporary},
		POP3: POP3Config{
			Delete:      POP3DeleteExpunge,
			View:        POP3ViewInbox,
			ViewExclude: []string{`\Trash`, `\Junk`},
			Lock:        true,
			Expire:      -1,
		},
		Sieve: SieveConfig{MaxScriptSize: 1 << 20, MaxScripts: 20, MaxRedirects: 4,
			VacationMinPeriod: Duration(24 * time.Hour)},
		Relay: RelayConfig{TLS: RelayTLSStartTLS, MaxAge: Duration(5 * 24 * time.Hour),
			MaxQueued: 256 << 20, MaxQueuedPerAccount: 16 << 20},
		TLS:    TLSConfig{ACMEHTTP: ":80"},
		Auth:   AuthConfig{TrustedNetworks: slices.Clone(DefaultTrustedNetworks)},
		Limits: defaultLimits(),
	}
}

func defaultHostname() string {
	h, err := os.Hostname()
	if err != nil || strings.TrimSpace(h) == "" {
		return "localhost"
	}
	return h
}

// Load reads the file at path over Default(), resolves a relative data_dir
// against the file's directory, and validates the result. Every error is one
// line starting with "config: ".
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := Parse(data, filepath.Dir(abs))
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// Parse decodes a configuration file's contents over Default() without
// validating it. A relative data_dir is joined to baseDir (when baseDir is
// not ""), and so are relative tls.cert and tls.key. Unknown keys are
// errors.
func Parse(data []byte, baseDir string) (*Config, error) {
	c := Default()
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return nil, decodeError(err)
	}
	known := knownKeys()
	for _, k := range md.Keys() {
		if !known[strings.Join(k, "\x00")] {
			return nil, fmt.Errorf("config: unknown key %q", k.String())
		}
	}
	if u := md.Undecoded(); len(u) > 0 { // should be caught above; belt and braces
		return nil, fmt.Errorf("config: unknown key %q", u[0].String())
	}
	if strings.TrimSpace(c.Hostname) == "" {
		c.Hostname = defaultHostname()
	}
	if c.DataDir != "" && baseDir != "" && !filepath.IsAbs(c.DataDir) {
		c.DataDir = filepath.Join(baseDir, c.DataDir)
	}
	for _, p := range []*string{&c.TLS.Cert, &c.TLS.Key} {
		if *p != "" && baseDir != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(baseDir, *p)
		}
	}
	return c, nil
}

// decodeError turns a toml error into one "config: " line naming the key
// when known.
func decodeError(err error) error {
	var pe toml.ParseError
	if errors.As(err, &pe) {
		msg := strings.ReplaceAll(pe.Message, "\n", " ")
		if pe.LastKey != "" {
			return fmt.Errorf("config: %s: %s (line %d)", pe.LastKey, msg, pe.Position.Line)
		}
		return fmt.Errorf("config: line %d: %s", pe.Position.Line, msg)
	}
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if m := tomlErrRE.FindStringSubmatch(msg); m != nil {
		return fmt.Errorf("config: %s: %s (line %s)", m[2], m[3], m[1])
	}
	return fmt.Errorf("config: %s", strings.TrimPrefix(msg, "toml: "))
}

// tomlErrRE matches the toml package's plain errors that name a key.
var tomlErrRE = regexp.MustCompile(`^toml: line (\d+) \(last key "(.*)"\): (.*)$`)

// knownKeys lists every key path (joined with NUL) Config understands,
// tables included, matched exactly.
func knownKeys() map[string]bool {
	m := map[string]bool{}
	var walk func(t reflect.Type, prefix []string)
	walk = func(t reflect.Type, prefix []string) {
		for i := range t.NumField() {
			f := t.Field(i)
			name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
			if name == "" || name == "-" {
				continue
			}
			p := append(append([]string(nil), prefix...), name)
			m[strings.Join(p, "\x00")] = true
			if f.Type.Kind() == reflect.Struct {
				walk(f.Type, p)
			}
		}
	}
	walk(reflect.TypeFor[Config](), nil)
	return m
}

// Validate checks every value. The error is one line naming the key.
func (c *Config) Validate() error {
	bad := func(key, format string, args ...any) error {
		return fmt.Errorf("config: %s: %s", key, fmt.Sprintf(format, args...))
	}
	if h := c.Hostname; h == "" || strings.IndexFunc(h, func(r rune) bool { return unicode.IsSpace(r) || !unicode.IsPrint(r) }) >= 0 {
		return bad("hostname", "must be a host name without spaces, got %q", h)
	}
	if c.DataDir == "" {
		return bad("data_dir", "must not be empty")
	}
	switch c.Log.Level {
	case LogDebug, LogInfo, LogWarn, LogError:
	default:
		return bad("log.level", `must be "debug", "info", "warn" or "error", got %q`, c.Log.Level)
	}
	if err := checkListen(c.Debug.Pprof); err != nil {
		return bad("debug.pprof", "%v", err)
	}
	for _, l := range c.Listeners() {
		if err := checkListen(l.Addr); err != nil {
			return bad("listen."+l.Key, "%v", err)
		}
	}
	switch c.Storage.Backend {
	case BackendSQLite:
	case BackendPostgres:
		return bad("storage.backend", `"postgres" is not available yet; use "sqlite"`)
	default:
		return bad("storage.backend", `must be "sqlite" or "postgres", got %q`, c.Storage.Backend)
	}
	for _, r := range c.Delivery.RecipientDelimiter {
		if r == unicode.ReplacementChar || !unicode.IsPrint(r) || unicode.IsSpace(r) || r == '@' || r == '"' {
			return bad("delivery.recipient_delimiter", "each character must be printable, not a space, '@' or '\"', got %q", c.Delivery.RecipientDelimiter)
		}
	}
	if c.Delivery.MaxMessageSize <= 0 {
		return bad("delivery.max_message_size", "must be greater than 0, got %d", int64(c.Delivery.MaxMessageSize))
	}
	if c.Quota.Default < 0 {
		return bad("quota.default", "must not be negative, got %d", int64(c.Quota.Default))
	}
	if c.Quota.DefaultMessages < 0 {
		return bad("quota.default_messages", "must not be negative, got %d", c.Quota.DefaultMessages)
	}
	switch c.Quota.Full {
	case QuotaFullTemporary, QuotaFullPermanent:
	default:
		return bad("quota.full", `must be "temporary" or "permanent", got %q`, c.Quota.Full)
	}
	switch c.POP3.Delete {
	case POP3DeleteExpunge, POP3DeleteHide:
	default:
		return bad("pop3.delete", `must be "expunge" or "hide", got %q`, c.POP3.Delete)
	}
	switch c.POP3.View {
	case POP3ViewInbox, POP3ViewAll:
	default:
		return bad("pop3.view", `must be "inbox" or "all", got %q`, c.POP3.View)
	}
	for _, u := range c.POP3.ViewExclude {
		switch u {
		case `\All`, `\Archive`, `\Drafts`, `\Flagged`, `\Junk`, `\Sent`, `\Trash`:
		default:
			return bad("pop3.view_exclude", `each entry must be a special use such as "\Trash", got %q`, u)
		}
	}
	if c.POP3.Expire < -1 {
		return bad("pop3.expire", "must be -1 (never) or a number of days, got %d", c.POP3.Expire)
	}
	if c.POP3.LoginDelay < 0 {
		return bad("pop3.login_delay", "must not be negative, got %d", c.POP3.LoginDelay)
	}
	if c.Sieve.MaxScriptSize <= 0 {
		return bad("sieve.max_script_size", "must be greater than 0, got %d", int64(c.Sieve.MaxScriptSize))
	}
	if c.Sieve.MaxScripts <= 0 {
		return bad("sieve.max_scripts", "must be greater than 0, got %d", c.Sieve.MaxScripts)
	}
	if c.Sieve.MaxRedirects < 0 {
		return bad("sieve.max_redirects", "must not be negative, got %d", c.Sieve.MaxRedirects)
	}
	if c.Sieve.VacationMinPeriod < 0 {
		return bad("sieve.vacation_min_period", "must not be negative, got %q", FormatDuration(time.Duration(c.Sieve.VacationMinPeriod)))
	}
	if c.Relay.MaxAge <= 0 {
		return bad("relay.max_age", "must be greater than 0, got %q", FormatDuration(time.Duration(c.Relay.MaxAge)))
	}
	if c.Relay.MaxQueued < 0 || c.Relay.MaxQueuedPerAccount < 0 {
		return bad("relay.max_queued", "must not be negative (0 turns the limit off)")
	}
	if err := checkListen(c.Relay.Address); err != nil {
		return bad("relay.address", "%v", err)
	}
	switch c.Relay.TLS {
	case RelayTLSStartTLS, RelayTLSImplicit, RelayTLSNone:
	default:
		return bad("relay.tls", `must be "starttls", "implicit" or "none", got %q`, c.Relay.TLS)
	}
	switch {
	case c.TLS.Cert == "" && c.TLS.Key != "":
		return bad("tls.cert", "must be set when tls.key is")
	case c.TLS.Key == "" && c.TLS.Cert != "":
		return bad("tls.key", "must be set when tls.cert is")
	case c.TLS.ACME && c.TLS.Cert != "":
		return bad("tls.acme", "cannot be used with tls.cert and tls.key: choose one")
	}
	if c.TLS.ACME {
		if err := checkListen(c.TLS.ACMEHTTP); err != nil || c.TLS.ACMEHTTP == "" {
			return bad("tls.acme_http", `must be the "host:port" where the CA's http-01 challenges arrive (port 80 from the outside), got %q`, c.TLS.ACMEHTTP)
		}
		if !strings.Contains(c.Hostname, ".") {
			return bad("tls.acme", "needs a public host name in hostname, got %q", c.Hostname)
		}
	}
	// RFC 8314: imaps and pop3s speak TLS from the first byte.
	for _, l := range []Listener{{"imaps", c.Listen.IMAPS}, {"pop3s", c.Listen.POP3S}} {
		if l.Addr != "" && !c.TLS.Enabled() {
			return bad("listen."+l.Key, "needs a certificate: set tls.cert and tls.key")
		}
	}
	if _, err := c.Auth.Networks(); err != nil {
		return bad("auth.trusted_networks", "%v", err)
	}
	return c.Limits.validate(bad)
}

func (l LimitsConfig) validate(bad func(key, format string, args ...any) error) error {
	for _, k := range []struct {
		key string
		v   int
	}{
		{"limits.login_free_failures", l.LoginFreeFailures},
		{"limits.lockout_failures", l.LockoutFailures},
		{"limits.max_connections_per_ip", l.MaxConnectionsPerIP},
		{"limits.max_connections", l.MaxConnections},
		{"limits.max_commands_before_login", l.MaxCommandsBeforeLogin},
		{"limits.max_mailboxes", l.MaxMailboxes},
	} {
		if k.v < 0 {
			return bad(k.key, "must not be negative (0 turns the limit off), got %d", k.v)
		}
	}
	for _, k := range []struct {
		key string
		v   Duration
	}{
		{"limits.login_delay", l.LoginDelay},
		{"limits.login_max_delay", l.LoginMaxDelay},
		{"limits.login_forget", l.LoginForget},
		{"limits.lockout", l.Lockout},
		{"limits.pre_login_timeout", l.PreLoginTimeout},
	} {
		if k.v < 0 {
			return bad(k.key, "must not be negative, got %q", FormatDuration(time.Duration(k.v)))
		}
	}
	if l.LoginMaxDelay < l.LoginDelay {
		return bad("limits.login_max_delay", "must be at least limits.login_delay (%s), got %q", FormatDuration(time.Duration(l.LoginDelay)), FormatDuration(time.Duration(l.LoginMaxDelay)))
	}
	if l.LoginForget == 0 {
		return bad("limits.login_forget", "must be greater than 0")
	}
	if l.LockoutFailures > 0 && l.Lockout == 0 {
		return bad("limits.lockout", "must be greater than 0 when limits.lockout_failures is set (set lockout_failures = 0 to turn lockout off)")
	}
	if l.PreLoginTimeout == 0 {
		return bad("limits.pre_login_timeout", "must be greater than 0")
	}
	if _, err := l.Exempt(); err != nil {
		return bad("limits.exempt_networks", "%v", err)
	}
	return nil
}

func checkListen(addr string) error {
	if addr == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf(`must be "host:port" (e.g. "127.0.0.1:25" or ":25"), got %q`, addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port must be a number from 0 to 65535, got %q", addr)
	}
	return nil
}

// Listener is one configured listen address.
type Listener struct {
	Key  string // key in [listen]: "smtp", "imaps"…
	Addr string // "host:port"; "" when off
}

// Listeners returns every [listen] key with its address (also those that are
// off), in file order.
func (c *Config) Listeners() []Listener {
	l := c.Listen
	return []Listener{
		{"smtp", l.SMTP},
		{"lmtp", l.LMTP},
		{"imap", l.IMAP},
		{"imaps", l.IMAPS},
		{"pop3", l.POP3},
		{"pop3s", l.POP3S},
		{"managesieve", l.ManageSieve},
	}
}

// SlogLevel returns log.level as a slog.Level (info for unknown values).
func (c *Config) SlogLevel() slog.Level {
	switch c.Log.Level {
	case LogDebug:
		return slog.LevelDebug
	case LogWarn:
		return slog.LevelWarn
	case LogError:
		return slog.LevelError
	}
	return slog.LevelInfo
}

package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    int64
		wantErr bool
	}{
		{"0", 0, false},
		{"1024", 1024, false},
		{"1024B", 1024, false},
		{"200K", 200 << 10, false},
		{"200k", 200 << 10, false},
		{"10M", 10 << 20, false},
		{"10MB", 10 << 20, false},
		{"10MiB", 10 << 20, false},
		{"10mib", 10 << 20, false},
		{"10mb", 10 << 20, false},
		{"1G", 1 << 30, false},
		{"1GiB", 1 << 30, false},
		{"2T", 2 << 40, false},
		{" 5M ", 5 << 20, false},
		{"8388607T", 8388607 << 40, false},
		{"8388608T", 0, true}, // overflows int64
		{"99999999999999999999", 0, true},
		{"", 0, true},
		{"M", 0, true},
		{"B", 0, true},
		{"iB", 0, true},
		{"1iB", 0, true},
		{"-1", 0, true},
		{"-5M", 0, true},
		{"1.5G", 0, true},
		{"10X", 0, true},
		{"ten", 0, true},
		{"0x10", 0, true},
		{"10 MB extra", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseSize(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseSize(%q) = %d, want error", tt.in, got)
			} else if !strings.Contains(err.Error(), tt.in) {
				t.Errorf("ParseSize(%q) error %q does not name the value", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		in   int64
		want string
	}{
		{0, "0"},
		{1, "1"},
		{1000, "1000"},
		{1024, "1K"},
		{1536, "1536"},
		{10 << 20, "10M"},
		{1 << 30, "1G"},
		{3 << 40, "3T"},
		{1 << 50, "1024T"},
		{-5, "-5"},
	}
	for _, tt := range tests {
		got := FormatSize(tt.in)
		if got != tt.want {
			t.Errorf("FormatSize(%d) = %q, want %q", tt.in, got, tt.want)
		}
		if tt.in >= 0 {
			back, err := ParseSize(got)
			if err != nil || back != tt.in {
				t.Errorf("ParseSize(FormatSize(%d)) = %d, %v", tt.in, back, err)
			}
		}
	}
}

func TestSizeTextUnmarshaler(t *testing.T) {
	var s Size
	if err := s.UnmarshalText([]byte("3M")); err != nil || s != 3<<20 {
		t.Fatalf("UnmarshalText = %d, %v", s, err)
	}
	if err := s.UnmarshalText([]byte("junk")); err == nil {
		t.Fatal("UnmarshalText(junk) succeeded")
	}
	b, _ := Size(3 << 20).MarshalText()
	if string(b) != "3M" {
		t.Fatalf("MarshalText = %q", b)
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		toml    string
		wantErr string // substring; "" for success
		check   func(t *testing.T, c *Config)
	}{
		{
			name: "empty file gives defaults",
			toml: "",
			check: func(t *testing.T, c *Config) {
				d := Default()
				d.DataDir = filepath.Join("/base", DefaultDataDir)
				if !reflect.DeepEqual(c, d) {
					t.Errorf("got %+v, want %+v", c, d)
				}
			},
		},
		{
			name: "full file",
			toml: `
hostname = "mx.example.org"
data_dir = "/var/lib/mailroom"
[log]
level = "debug"
[debug]
pprof = "127.0.0.1:6060"
[listen]
smtp = ":25"
lmtp = "127.0.0.1:24"
imap = "[::1]:143"
imaps = "0.0.0.0:993"
pop3 = "localhost:110"
pop3s = ":995"
managesieve = ":4190"
[storage]
backend = "sqlite"
[delivery]
recipient_delimiter = "+-"
plus_folder = true
plus_folder_create = true
max_message_size = "25MiB"
[quota]
default = "1G"
default_messages = 100000
full = "permanent"
[tls]
cert = "/etc/ssl/mx.pem"
key = "keys/mx.key"
[auth]
trusted_networks = ["10.0.0.0/8", "2001:db8::1"]
`,
			check: func(t *testing.T, c *Config) {
				want := &Config{
					Hostname: "mx.example.org",
					DataDir:  "/var/lib/mailroom",
					Log:      LogConfig{Level: "debug"},
					Debug:    DebugConfig{Pprof: "127.0.0.1:6060"},
					Listen: ListenConfig{
						SMTP: ":25", LMTP: "127.0.0.1:24", IMAP: "[::1]:143", IMAPS: "0.0.0.0:993",
						POP3: "localhost:110", POP3S: ":995", ManageSieve: ":4190",
					},
					Storage:  StorageConfig{Backend: "sqlite"},
					Delivery: DeliveryConfig{RecipientDelimiter: "+-", PlusFolder: true, PlusFolderCreate: true, MaxMessageSize: 25 << 20},
					Quota:    QuotaConfig{Default: 1 << 30, DefaultMessages: 100000, Full: "permanent"},
					POP3:     Default().POP3,
					Sieve:    Default().Sieve,
					Relay:    Default().Relay,
					TLS:      TLSConfig{Cert: "/etc/ssl/mx.pem", Key: "/base/keys/mx.key", ACMEHTTP: ":80"},
					Auth:     AuthConfig{TrustedNetworks: []string{"10.0.0.0/8", "2001:db8::1"}},
					Limits:   Default().Limits,
				}
				if !reflect.DeepEqual(c, want) {
					t.Errorf("got %+v\nwant %+v", c, want)
				}
				if err := c.Validate(); err != nil {
					t.Errorf("Validate: %v", err)
				}
			},
		},
		{
			name: "integer sizes",
			toml: "[delivery]\nmax_message_size = 1048576\n[quota]\ndefault = 0\n",
			check: func(t *testing.T, c *Config) {
				if c.Delivery.MaxMessageSize != 1<<20 || c.Quota.Default != 0 {
					t.Errorf("got %d %d", c.Delivery.MaxMessageSize, c.Quota.Default)
				}
			},
		},
		{
			name: "empty delimiter disables",
			toml: "[delivery]\nrecipient_delimiter = \"\"\n",
			check: func(t *testing.T, c *Config) {
				if c.Delivery.RecipientDelimiter != "" {
					t.Errorf("delimiter %q", c.Delivery.RecipientDelimiter)
				}
			},
		},
		{
			name: "empty hostname means default",
			toml: "hostname = \"\"\n",
			check: func(t *testing.T, c *Config) {
				if c.Hostname == "" {
					t.Error("hostname empty")
				}
			},
		},
		{
			name: "empty trusted networks trust nothing",
			toml: "[auth]\ntrusted_networks = []\n",
			check: func(t *testing.T, c *Config) {
				if len(c.Auth.TrustedNetworks) != 0 {
					t.Errorf("trusted_networks %q", c.Auth.TrustedNetworks)
				}
				if ps, err := c.Auth.Networks(); err != nil || len(ps) != 0 {
					t.Errorf("Networks() = %v, %v", ps, err)
				}
			},
		},
		{
			name: "postgres is accepted by the parser",
			toml: "[storage]\nbackend = \"postgres\"\n",
			check: func(t *testing.T, c *Config) {
				if c.Storage.Backend != "postgres" {
					t.Errorf("backend %q", c.Storage.Backend)
				}
			},
		},
		{name: "unknown top-level key", toml: "hostnme = \"x\"\n", wantErr: `config: unknown key "hostnme"`},
		{name: "unknown key in section", toml: "[delivery]\nplus_foldr = true\n", wantErr: `config: unknown key "delivery.plus_foldr"`},
		{name: "unknown section", toml: "[imap]\nport = 143\n", wantErr: `config: unknown key "imap"`},
		{name: "unknown key in debug", toml: "[debug]\npprof_addr = \"127.0.0.1:6060\"\n", wantErr: `config: unknown key "debug.pprof_addr"`},
		{name: "pprof not a string", toml: "[debug]\npprof = 6060\n", wantErr: `debug.pprof`},
		{name: "unknown key in tls", toml: "[tls]\ncertificate = \"x\"\n", wantErr: `config: unknown key "tls.certificate"`},
		{name: "trusted networks not a list", toml: "[auth]\ntrusted_networks = \"10.0.0.0/8\"\n", wantErr: `auth.trusted_networks`},
		{name: "unknown dotted key", toml: "quota.soft = 1\n", wantErr: `config: unknown key "quota.soft"`},
		{name: "key case matters", toml: "Hostname = \"x\"\n", wantErr: `config: unknown key "Hostname"`},
		{name: "section case matters", toml: "[Listen]\nsmtp = \":25\"\n", wantErr: `config: unknown key "Listen"`},
		{name: "bad size string", toml: "[delivery]\nmax_message_size = \"10X\"\n", wantErr: `delivery.max_message_size: invalid size "10X"`},
		{name: "negative size string", toml: "[quota]\ndefault = \"-1M\"\n", wantErr: `quota.default: invalid size "-1M"`},
		{name: "negative size integer", toml: "[quota]\ndefault = -1\n", wantErr: `quota.default: invalid size -1`},
		{name: "float size", toml: "[quota]\ndefault = 1.5\n", wantErr: `quota.default: invalid size 1.5`},
		{name: "wrong type", toml: "hostname = 5\n", wantErr: `hostname`},
		{name: "syntax error", toml: "hostname = \n", wantErr: `config: `},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Parse([]byte(tt.toml), "/base")
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("no error, want %q", tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q, want it to contain %q", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("error %q spans lines", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name    string
		mod     func(c *Config)
		wantErr string
	}{
		{"default", func(c *Config) {}, ""},
		{"listen all", func(c *Config) {
			c.Listen = ListenConfig{":25", "127.0.0.1:24", "[::1]:143", "0.0.0.0:993", "h:110", ":0", ":4190"}
			c.TLS = TLSConfig{Cert: "/c.pem", Key: "/k.pem"}
		}, ""},
		{"bad full", func(c *Config) { c.Quota.Full = "soft" }, `config: quota.full: must be "temporary" or "permanent", got "soft"`},
		{"bad backend", func(c *Config) { c.Storage.Backend = "mysql" }, `config: storage.backend: must be "sqlite" or "postgres", got "mysql"`},
		{"postgres not yet", func(c *Config) { c.Storage.Backend = "postgres" }, `config: storage.backend: "postgres" is not available yet`},
		{"bad log level", func(c *Config) { c.Log.Level = "verbose" }, `config: log.level: must be`},
		// pprof is off unless set, and then it is an address like any
		// listener's: a typo must stop the server, not silently turn
		// profiling off.
		{"pprof off", func(c *Config) { c.Debug.Pprof = "" }, ""},
		{"pprof loopback", func(c *Config) { c.Debug.Pprof = "127.0.0.1:6060" }, ""},
		{"pprof ipv6 loopback", func(c *Config) { c.Debug.Pprof = "[::1]:6060" }, ""},
		{"pprof any port", func(c *Config) { c.Debug.Pprof = "localhost:0" }, ""},
		{"pprof no port", func(c *Config) { c.Debug.Pprof = "127.0.0.1" }, `config: debug.pprof: must be "host:port"`},
		{"pprof port only", func(c *Config) { c.Debug.Pprof = "6060" }, `config: debug.pprof: must be "host:port"`},
		{"pprof bad port", func(c *Config) { c.Debug.Pprof = "127.0.0.1:65536" }, `config: debug.pprof: port must be a number`},
		{"pprof url", func(c *Config) { c.Debug.Pprof = "http://127.0.0.1:6060" }, `config: debug.pprof:`},
		{"listen no port", func(c *Config) { c.Listen.SMTP = "127.0.0.1" }, `config: listen.smtp: must be "host:port"`},
		{"listen bad port", func(c *Config) { c.Listen.IMAP = ":99999" }, `config: listen.imap: port must be a number`},
		{"listen named port", func(c *Config) { c.Listen.POP3 = ":pop3" }, `config: listen.pop3: port must be a number`},
		{"listen ipv6 unbracketed", func(c *Config) { c.Listen.ManageSieve = "::1:4190" }, `config: listen.managesieve:`},
		{"delimiter space", func(c *Config) { c.Delivery.RecipientDelimiter = "+ " }, `config: delivery.recipient_delimiter:`},
		{"delimiter control", func(c *Config) { c.Delivery.RecipientDelimiter = "\x01" }, `config: delivery.recipient_delimiter:`},
		{"delimiter at", func(c *Config) { c.Delivery.RecipientDelimiter = "@" }, `config: delivery.recipient_delimiter:`},
		{"delimiter several", func(c *Config) { c.Delivery.RecipientDelimiter = "+-_" }, ""},
		{"delimiter none", func(c *Config) { c.Delivery.RecipientDelimiter = "" }, ""},
		{"max size zero", func(c *Config) { c.Delivery.MaxMessageSize = 0 }, `config: delivery.max_message_size: must be greater than 0`},
		{"negative messages", func(c *Config) { c.Quota.DefaultMessages = -1 }, `config: quota.default_messages:`},
		{"hostname space", func(c *Config) { c.Hostname = "a b" }, `config: hostname:`},
		{"empty data dir", func(c *Config) { c.DataDir = "" }, `config: data_dir:`},
		{"tls both", func(c *Config) { c.TLS = TLSConfig{Cert: "/c.pem", Key: "/k.pem"} }, ""},
		{"tls cert only", func(c *Config) { c.TLS.Cert = "/c.pem" }, `config: tls.key: must be set when tls.cert is`},
		{"tls key only", func(c *Config) { c.TLS.Key = "/k.pem" }, `config: tls.cert: must be set when tls.key is`},
		{"imaps without tls", func(c *Config) { c.Listen.IMAPS = ":993" }, `config: listen.imaps: needs a certificate`},
		{"pop3s without tls", func(c *Config) { c.Listen.POP3S = ":995" }, `config: listen.pop3s: needs a certificate`},
		{"imaps with tls", func(c *Config) {
			c.Listen.IMAPS, c.Listen.POP3S = ":993", ":995"
			c.TLS = TLSConfig{Cert: "/c.pem", Key: "/k.pem"}
		}, ""},
		{"trusted networks empty", func(c *Config) { c.Auth.TrustedNetworks = nil }, ""},
		{"acme", func(c *Config) { c.Hostname = "mx.example.org"; c.TLS.ACME = true; c.Listen.IMAPS = ":993" }, ""},
		{"acme and cert", func(c *Config) {
			c.Hostname = "mx.example.org"
			c.TLS = TLSConfig{Cert: "/c.pem", Key: "/k.pem", ACME: true, ACMEHTTP: ":80"}
		}, `config: tls.acme: cannot be used with tls.cert`},
		{"acme without port", func(c *Config) { c.Hostname = "mx.example.org"; c.TLS.ACME = true; c.TLS.ACMEHTTP = "" }, `config: tls.acme_http:`},
		{"acme on a local name", func(c *Config) { c.Hostname = "localhost"; c.TLS.ACME = true }, `config: tls.acme: needs a public host name`},
		{"trusted networks mixed", func(c *Config) {
			c.Auth.TrustedNetworks = []string{"192.0.2.0/24", "192.0.2.7", "2001:db8::/32", "::1", "10.1.2.3/8"}
		}, ""},
		{"trusted network bad", func(c *Config) { c.Auth.TrustedNetworks = []string{"10.0.0.0/33"} }, `config: auth.trusted_networks: each entry must be a network such as "192.0.2.0/24" or "2001:db8::/32", got "10.0.0.0/33"`},
		{"trusted network name", func(c *Config) { c.Auth.TrustedNetworks = []string{"localhost"} }, `config: auth.trusted_networks: each entry must be a network`},
		{"trusted network zone", func(c *Config) { c.Auth.TrustedNetworks = []string{"fe80::1%eth0"} }, `config: auth.trusted_networks:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			tt.mod(c)
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

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRenderRoundTrip(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "mailroom.toml")
	writeFile(t, path, Render(Default()))
	got, err := Load(path)
	if err != nil {
		t.Fatalf("Load(Render(Default())): %v\n%s", err, Render(Default()))
	}
	want := Default()
	want.DataDir = filepath.Join(dir, "mailroom-data")
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip:\ngot  %+v\nwant %+v", got, want)
	}
}

func TestRenderRoundTripNonDefault(t *testing.T) {
	c := &Config{
		Hostname: `mx."quoted"\host`, // not valid for Validate, but must survive quoting
		DataDir:  "/srv/mail data/ü",
		Log:      LogConfig{Level: "warn"},
		Debug:    DebugConfig{Pprof: "[::1]:6060"},
		Listen:   ListenConfig{SMTP: "127.0.0.1:2525", IMAP: "[::1]:1143", ManageSieve: ":4190"},
		Storage:  StorageConfig{Backend: "sqlite"},
		Delivery: DeliveryConfig{RecipientDelimiter: "+-", PlusFolder: true, PlusFolderCreate: true, MaxMessageSize: 12345},
		Quota:    QuotaConfig{Default: 1 << 30, DefaultMessages: 42, Full: "permanent"},
		POP3: POP3Config{Delete: "hide", View: "all", ViewExclude: []string{`\Junk`}, MarkSeen: true,
			Expire: 30, LoginDelay: 60},
		Sieve: SieveConfig{MaxScriptSize: 4096, MaxScripts: 3, MaxRedirects: 1},
		Relay: RelayConfig{Address: "smarthost:587", Username: "u", Password: `p"w`, TLS: "none", InsecureSkipVerify: true},
		TLS:   TLSConfig{Cert: "/etc/ssl/a \"b\".pem", Key: "/etc/ssl/private/ü.key", ACMEEmail: "ops@example.org", ACMEDirectory: "https://ca.example/dir", ACMEHTTP: "127.0.0.1:8080"},
		Auth:  AuthConfig{TrustedNetworks: []string{"192.0.2.0/24", "2001:db8::/32"}},
		Limits: LimitsConfig{LoginFreeFailures: 3, LoginDelay: Duration(250 * time.Millisecond), LoginMaxDelay: Duration(90 * time.Minute),
			LoginForget: Duration(25 * time.Hour), LockoutFailures: 0, Lockout: Duration(time.Hour + time.Second),
			MaxConnectionsPerIP: 7, MaxConnections: 99, MaxCommandsBeforeLogin: 5, PreLoginTimeout: Duration(10 * time.Second),
			MaxMailboxes: 12, ExemptNetworks: []string{"198.51.100.0/24"}},
	}
	got, err := Parse(Render(c), "/elsewhere")
	if err != nil {
		t.Fatalf("Parse(Render): %v", err)
	}
	if !reflect.DeepEqual(got, c) {
		t.Fatalf("round trip:\ngot  %+v\nwant %+v", got, c)
	}
}

// TestRenderDocumentsEveryKey checks that the rendered file sets every key
// Config has, each preceded by a comment.
func TestRenderDocumentsEveryKey(t *testing.T) {
	out := Render(Default())
	md, err := toml.Decode(string(out), new(Config))
	if err != nil {
		t.Fatal(err)
	}
	for k := range knownKeys() {
		key := toml.Key(strings.Split(k, "\x00"))
		if !md.IsDefined(key...) {
			t.Errorf("Render does not set %q", key.String())
		}
	}
	lines := strings.Split(string(out), "\n")
	for i, l := range lines {
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "[") {
			continue
		}
		if i == 0 || !strings.HasPrefix(lines[i-1], "#") {
			t.Errorf("line %d %q has no comment above it", i+1, l)
		}
	}
}

func TestLoadRelativeDataDir(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		dataDir string
		want    string
	}{
		{"data", filepath.Join(dir, "etc", "data")},
		{"./data", filepath.Join(dir, "etc", "data")},
		{"../var/data", filepath.Join(dir, "var", "data")},
		{"/abs/data", "/abs/data"},
	}
	for _, tt := range tests {
		path := filepath.Join(dir, "etc", "mailroom.toml")
		writeFile(t, path, []byte("data_dir = "+tomlString(tt.dataDir)+"\n"))
		c, err := Load(path)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if c.DataDir != tt.want {
			t.Errorf("data_dir %q resolved to %q, want %q", tt.dataDir, c.DataDir, tt.want)
		}
	}

	// A relative config path is resolved from the working directory.
	t.Chdir(dir)
	c, err := Load(filepath.Join("etc", "mailroom.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/abs/data" {
		t.Errorf("DataDir %q", c.DataDir)
	}
	writeFile(t, filepath.Join(dir, "etc", "mailroom.toml"), []byte("data_dir = \"d\"\n"))
	c, err = Load(filepath.Join("etc", "mailroom.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "etc", "d"); c.DataDir != want {
		t.Errorf("DataDir %q, want %q", c.DataDir, want)
	}
}

func TestLoadRelativeTLSFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "etc", "mailroom.toml")
	writeFile(t, path, []byte("[tls]\ncert = \"certs/mx.pem\"\nkey = \"/abs/mx.key\"\n"))
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "etc", "certs", "mx.pem"); c.TLS.Cert != want || c.TLS.Key != "/abs/mx.key" {
		t.Errorf("tls = %+v, want cert %q and key /abs/mx.key", c.TLS, want)
	}
	writeFile(t, path, []byte("[tls]\ncert = \"certs/mx.pem\"\n"))
	if _, err := Load(path); err == nil || err.Error() != "config: tls.key: must be set when tls.cert is" {
		t.Errorf("Load(cert only) = %v", err)
	}
}

func TestNetworks(t *testing.T) {
	ps, err := AuthConfig{TrustedNetworks: []string{"10.1.2.3/8", "192.0.2.7", "::1"}}.Networks()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "::1/128"}
	if len(ps) != len(want) {
		t.Fatalf("Networks = %v", ps)
	}
	for i, p := range ps {
		if p.String() != want[i] {
			t.Errorf("Networks[%d] = %s, want %s", i, p, want[i])
		}
	}
}

func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	if _, err := Load(filepath.Join(dir, "missing.toml")); err == nil || !strings.HasPrefix(err.Error(), "config: ") {
		t.Errorf("Load(missing) = %v", err)
	}
	path := filepath.Join(dir, "m.toml")
	writeFile(t, path, []byte("[quota]\nfull = \"soft\"\n"))
	if _, err := Load(path); err == nil || err.Error() != `config: quota.full: must be "temporary" or "permanent", got "soft"` {
		t.Errorf("Load(bad full) = %v", err)
	}
	writeFile(t, path, []byte("[storage]\nbackend = \"postgres\"\n"))
	if _, err := Load(path); err == nil || !strings.Contains(err.Error(), "not available yet") {
		t.Errorf("Load(postgres) = %v", err)
	}
	writeFile(t, path, []byte("[delivery]\nplus_foldr = true\n"))
	if _, err := Load(path); err == nil || err.Error() != `config: unknown key "delivery.plus_foldr"` {
		t.Errorf("Load(unknown) = %v", err)
	}
}

func TestListenersCoverListenConfig(t *testing.T) {
	c := Default()
	if n := reflect.TypeFor[ListenConfig]().NumField(); len(c.Listeners()) != n {
		t.Fatalf("Listeners has %d entries, ListenConfig %d fields", len(c.Listeners()), n)
	}
	rt := reflect.TypeFor[ListenConfig]()
	for i, l := range c.Listeners() {
		if tag := rt.Field(i).Tag.Get("toml"); tag != l.Key {
			t.Errorf("Listeners[%d].Key = %q, field tag %q", i, l.Key, tag)
		}
	}
}

func TestDurationDays(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		out  string
	}{
		{"1d", 24 * time.Hour, "1d"},
		{"5d", 5 * 24 * time.Hour, "5d"},
		{"1d12h", 36 * time.Hour, "1d12h"},
		{"36h", 36 * time.Hour, "1d12h"},
		{"30d", 30 * 24 * time.Hour, "30d"},
		{"0s", 0, "0s"},
		{"90m", 90 * time.Minute, "1h30m"},
		{"1d30s", 24*time.Hour + 30*time.Second, "1d30s"},
	} {
		var d Duration
		if err := d.UnmarshalText([]byte(tc.in)); err != nil || time.Duration(d) != tc.want {
			t.Errorf("%q: %v, %v; want %v", tc.in, time.Duration(d), err, tc.want)
		}
		if got := FormatDuration(tc.want); got != tc.out {
			t.Errorf("FormatDuration(%v) = %q, want %q", tc.want, got, tc.out)
		}
		var back Duration
		if err := back.UnmarshalText([]byte(FormatDuration(tc.want))); err != nil || back != Duration(tc.want) {
			t.Errorf("round trip of %v: %v, %v", tc.want, time.Duration(back), err)
		}
	}
	for _, bad := range []string{"d", "1dd", "1d-1h", "999999999999d", "5 days", "1x"} {
		var d Duration
		if err := d.UnmarshalText([]byte(bad)); err == nil {
			t.Errorf("%q accepted as %v", bad, time.Duration(d))
		}
	}
}

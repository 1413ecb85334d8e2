package config

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"
)

// Render returns c as a commented TOML file that documents every key and
// that Load accepts. `mailroom quickstart` writes it to ./mailroom.toml.
func Render(c *Config) []byte {
	var b bytes.Buffer
	if err := renderTmpl.Execute(&b, c); err != nil {
		// The template is fixed and only calls the helpers below.
		panic("config: render: " + err.Error())
	}
	return b.Bytes()
}

var renderTmpl = template.Must(template.New("mailroom.toml").Funcs(template.FuncMap{
	"q":    tomlString,
	"size": tomlSize,
	"dur":  tomlDuration,
}).Parse(`# mailroom configuration (TOML, https://toml.io).
#
# Every key is listed below with its meaning. Unknown keys are errors, so a
# misspelt key is reported instead of being ignored. Sizes are a number of
# bytes or a string with a binary unit: "200K", "10M", "1G", "2T"
# ("10MB" and "10MiB" also mean 10*1024*1024).

# Name of this server, used in protocol greetings and Received: headers.
# Default: the machine's host name.
hostname = {{q .Hostname}}

# Directory holding the mail store (database and message bodies). A relative
# path is relative to the directory of this file. Default: "./mailroom-data".
data_dir = {{q .DataDir}}

[log]
# Least severe messages logged: "debug", "info", "warn" or "error".
# Default: "info".
level = {{q .Log.Level}}

[debug]
# Address ("host:port") serving Go's profiling endpoints (net/http/pprof)
# under /debug/pprof/, e.g. "127.0.0.1:6060"; "" turns them off. They have
# no authentication and can slow the server down: keep them on loopback.
# Default: "".
pprof = {{q .Debug.Pprof}}

[listen]
# Address ("host:port") each protocol listens on; "" turns it off.
# Use "127.0.0.1:port" or "[::1]:port" for loopback only, ":port" for every
# interface. All are off by default.
#
# SMTP (RFC 5321), mail from other servers.
smtp = {{q .Listen.SMTP}}
# LMTP (RFC 2033), mail handed over by a local MTA.
lmtp = {{q .Listen.LMTP}}
# IMAP (RFC 9051).
imap = {{q .Listen.IMAP}}
# IMAP over implicit TLS (RFC 8314).
imaps = {{q .Listen.IMAPS}}
# POP3 (RFC 1939).
pop3 = {{q .Listen.POP3}}
# POP3 over implicit TLS (RFC 8314).
pop3s = {{q .Listen.POP3S}}
# ManageSieve (RFC 5804), for managing Sieve filters.
managesieve = {{q .Listen.ManageSieve}}

[storage]
# Store backend: "sqlite". ("postgres" is planned but not available yet.)
# Default: "sqlite".
backend = {{q .Storage.Backend}}

[delivery]
# Subaddress delimiter characters (RFC 5233): with "+", mail to
# alice+lists@example.org goes to alice@example.org. Several characters
# ("+-") make each one a delimiter; "" turns subaddressing off.
# Default: "+".
recipient_delimiter = {{q .Delivery.RecipientDelimiter}}
# Deliver alice+Folder@example.org into alice's mailbox "Folder" when it
# exists (otherwise into INBOX). Default: false.
plus_folder = {{.Delivery.PlusFolder}}
# With plus_folder, create the mailbox when it does not exist yet.
# Default: false.
plus_folder_create = {{.Delivery.PlusFolderCreate}}
# Largest message accepted; larger ones are refused (552 5.3.4).
# Default: "50M".
max_message_size = {{size .Delivery.MaxMessageSize}}
# Account that gets mail for postmaster@ a local domain without such an
# account, alias or catch-all (RFC 5321 §4.5.1). Default: "" (the
# domain's oldest account).
postmaster = {{q .Delivery.Postmaster}}

[quota]
# Storage quota of accounts created without their own, in bytes or with a
# unit; 0 means unlimited. Default: 0.
default = {{size .Quota.Default}}
# Message-count quota of accounts created without their own; 0 means
# unlimited. Default: 0.
default_messages = {{.Quota.DefaultMessages}}
# What an over-quota delivery answers: "temporary" (452 4.2.2, the sender
# retries for a while) or "permanent" (552 5.2.2, bounced at once).
# Default: "temporary".
full = {{q .Quota.Full}}

[pop3]
# What DELE followed by QUIT does: "expunge" removes the message for every
# client (RFC 1939); "hide" hides it from POP3 only, so IMAP devices keep it
# (a POP3 archiver beside IMAP devices). Default: "expunge".
delete = {{q .POP3.Delete}}
# Which messages POP3 sees: "inbox", or "all" for every mailbox except those
# whose special use is in view_exclude (mail that filters filed away too).
# Default: "inbox".
view = {{q .POP3.View}}
# Special uses left out of view = "all". Default: ["\\Trash", "\\Junk"].
view_exclude = [{{range $i, $u := .POP3.ViewExclude}}{{if $i}}, {{end}}{{q $u}}{{end}}]
# Whether RETR marks the message \\Seen (visible to IMAP). Default: false.
mark_seen = {{.POP3.MarkSeen}}
# Refuse a second POP3 session of an account while one is open ([IN-USE]),
# as RFC 1939 expects. Default: true.
lock = {{.POP3.Lock}}
# EXPIRE announced in CAPA (RFC 2449), in days; -1 announces NEVER. It is
# advice to clients; the server deletes nothing by age. Default: -1.
expire = {{.POP3.Expire}}
# LOGIN-DELAY announced in CAPA and enforced between logins of one account,
# in seconds; 0 is off. Default: 0.
login_delay = {{.POP3.LoginDelay}}

[sieve]
# Largest Sieve script accepted. Default: "1M".
max_script_size = {{size .Sieve.MaxScriptSize}}
# Scripts per account. Default: 20.
max_scripts = {{.Sieve.MaxScripts}}
# Redirect actions one script may take for one message. Default: 4.
max_redirects = {{.Sieve.MaxRedirects}}
# Shortest time between two vacation replies to one sender; a script's
# shorter :days or :seconds is raised to it (RFC 5230 §4.1). "0s" lets a
# script answer every message. Default: "1d".
vacation_min_period = {{dur .Sieve.VacationMinPeriod}}

[relay]
# SMTP relay ("host:port") that takes mail sent by filters (vacation
# replies, redirects). "" keeps that mail queued in the data directory until
# a relay is set. Default: "".
address = {{q .Relay.Address}}
# SMTP AUTH PLAIN user name for the relay; "" for none.
username = {{q .Relay.Username}}
# Password for username.
password = {{q .Relay.Password}}
# "starttls" (required), "implicit" (TLS from the first byte) or "none".
# Default: "starttls".
tls = {{q .Relay.TLS}}
# Accept any certificate from the relay. Default: false.
insecure_skip_verify = {{.Relay.InsecureSkipVerify}}
# How long a queued message is tried before it fails; a redirect is then
# bounced into the INBOX of the account that made it. Default: "5d".
max_age = {{dur .Relay.MaxAge}}
# Bytes queued for all accounts; past it a redirect keeps the message
# instead and no vacation reply is sent. "0" turns the limit off.
# Default: "256M".
max_queued = {{size .Relay.MaxQueued}}
# Bytes queued for one account, also bounded by its storage quota.
# "0" turns the limit off. Default: "16M".
max_queued_per_account = {{size .Relay.MaxQueuedPerAccount}}

[tls]
# Certificate chain (PEM, server certificate first) offered by every
# listener: STARTTLS on smtp, lmtp (when not on loopback), imap, pop3 and
# managesieve, TLS from the first byte on imaps and pop3s (RFC 8314).
# TLS 1.2 or later. A relative path is relative to the directory of this
# file. SIGHUP rereads cert and key without dropping connections. "" (with
# key = "") means no TLS; imaps and pop3s then cannot be used. Default: "".
cert = {{q .TLS.Cert}}
# Private key (PEM) of cert; keep it readable by the server only.
# Default: "".
key = {{q .TLS.Key}}
# Instead of cert and key: get certificates for hostname from an ACME CA
# (Let's Encrypt unless acme_directory says otherwise), renewed by the
# server and kept in the data directory. The CA checks the name over HTTP
# on port 80, answered on acme_http. Default: false.
acme = {{.TLS.ACME}}
# Contact address given to the CA (expiry notices). Default: "".
acme_email = {{q .TLS.ACMEEmail}}
# ACME directory URL of the CA; "" is Let's Encrypt. Default: "".
acme_directory = {{q .TLS.ACMEDirectory}}
# Address answering the CA's http-01 challenges; port 80 as seen from the
# internet. Default: ":80".
acme_http = {{q .TLS.ACMEHTTP}}

[auth]
# Networks whose clients may log in to IMAP, POP3 and ManageSieve with a
# password over a connection without TLS, as CIDR prefixes
# ("192.0.2.0/24", "2001:db8::/32") or single addresses. Everyone else
# must use TLS first (IMAP announces LOGINDISABLED, POP3 hides USER and
# SASL, ManageSieve answers ENCRYPT-NEEDED). [] trusts no network.
# Default: ["127.0.0.0/8", "::1/128"].
trusted_networks = [{{range $i, $n := .Auth.TrustedNetworks}}{{if $i}}, {{end}}{{q $n}}{{end}}]

[limits]
# Abuse limits. Durations are strings such as "500ms", "30s", "15m", "1h".
# A count of 0 turns that limit off.
#
# Failed logins (IMAP, POP3, ManageSieve) from one client address (an IPv6
# client's /64) answered without extra delay. After that, every login
# attempt from the address waits login_delay first, doubling with each
# further failure up to login_max_delay; other addresses are not slowed.
# A successful login clears the address's record. Default: 5.
login_free_failures = {{.Limits.LoginFreeFailures}}
# First delay after login_free_failures; "0s" turns delays off.
# Default: "1s".
login_delay = {{dur .Limits.LoginDelay}}
# Longest delay. Default: "30s".
login_max_delay = {{dur .Limits.LoginMaxDelay}}
# An address or account starts again with a clean record this long after
# its last failed login. Default: "1h".
login_forget = {{dur .Limits.LoginForget}}
# Failed logins of one account (from any address) that lock it for
# lockout. The lockout only applies to addresses with failed logins of
# their own, so the owner, from an address that has not been guessing,
# still logs in. A locked-out attempt is answered exactly like a wrong
# password, whether or not the account exists. Default: 10.
lockout_failures = {{.Limits.LockoutFailures}}
# How long an account stays locked. Default: "15m".
lockout = {{dur .Limits.Lockout}}
# Open connections from one client address over all listeners; more are
# answered "too many connections" in the protocol's words and closed.
# Default: 50.
max_connections_per_ip = {{.Limits.MaxConnectionsPerIP}}
# Open connections over all listeners. Default: 10000.
max_connections = {{.Limits.MaxConnections}}
# Commands an IMAP, POP3 or ManageSieve connection may send before logging
# in; the next one ends the connection. Default: 50.
max_commands_before_login = {{.Limits.MaxCommandsBeforeLogin}}
# Wait for each command before login (IMAP and ManageSieve; POP3 keeps the
# 10 minutes RFC 1939 asks for). Default: "1m".
pre_login_timeout = {{dur .Limits.PreLoginTimeout}}
# Mailboxes one account may have; IMAP CREATE and RENAME beyond it answer
# NO [LIMIT]. Default: 10000.
max_mailboxes = {{.Limits.MaxMailboxes}}
# Networks (as in auth.trusted_networks) whose clients are neither slowed
# nor locked out after failed logins and not held to
# max_connections_per_ip. Being in auth.trusted_networks exempts nothing.
# Default: [].
exempt_networks = [{{range $i, $n := .Limits.ExemptNetworks}}{{if $i}}, {{end}}{{q $n}}{{end}}]
`))

// tomlDuration writes a duration as a quoted string.
func tomlDuration(d Duration) string {
	return strconv.Quote(FormatDuration(time.Duration(d)))
}

// tomlSize writes a size as an integer when it has no unit, else as a
// quoted string.
func tomlSize(s Size) string {
	f := FormatSize(int64(s))
	if _, err := strconv.ParseInt(f, 10, 64); err == nil {
		return f
	}
	return strconv.Quote(f)
}

// tomlString quotes s as a TOML basic string.
func tomlString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteString(`\uFFFD`)
			i++
			continue
		}
		i += size
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\t':
			b.WriteString(`\t`)
		case '\r':
			b.WriteString(`\r`)
		default:
			if r < 0x20 || r == 0x7f {
				fmt.Fprintf(&b, `\u%04X`, r)
			} else {
				b.WriteRune(r)
			}
		}
	}
	b.WriteByte('"')
	return b.String()
}

package sieve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	gosieve "github.com/migadu/go-sieve"
	"github.com/migadu/go-sieve/interp"
	"github.com/migadu/go-sieve/lexer"
	"github.com/migadu/go-sieve/parser"

	"mailroom/internal/store"
)

// Extensions lists every extension a script may require, in the order
// ManageSieve advertises them (RFC 5804 §1.7 SIEVE capability).
var Extensions = []string{
	"fileinto", "envelope", "encoded-character",
	"comparator-i;octet", "comparator-i;ascii-casemap", "comparator-i;ascii-numeric", "comparator-i;unicode-casemap",
	"imap4flags", "variables", "relational", "body", "vacation", "vacation-seconds",
	"copy", "regex", "date", "index", "editheader", "mailbox", "subaddress",
	"reject", "ereject", "include",
}

// Extensions the library does not know; this package implements them by
// rewriting the parsed script (see the package comment).
var ownExtensions = map[string]bool{"reject": true, "ereject": true, "vacation-seconds": true, "include": true}

var libraryExtensions = func() []string {
	var out []string
	for _, e := range Extensions {
		if !ownExtensions[e] {
			out = append(out, e)
		}
	}
	return out
}()

func knownExtension(e string) bool {
	for _, x := range Extensions {
		if x == e {
			return true
		}
	}
	return false
}

// Limits of the interpreter.
const (
	maxTokens       = 100000
	maxNesting      = 15
	maxIncludeDepth = 10 // RFC 6609 §3.2 lets implementations limit nesting
	maxIncludes     = 32
)

// CheckError is a script that does not compile, with the position of the
// (first) problem. Line and Column are 1-based; 0 when unknown.
type CheckError struct {
	Script string // the included script's name; "" for the script itself
	Line   int
	Column int
	Msg    string
}

func (e *CheckError) Error() string {
	where := ""
	if e.Script != "" {
		where = "script " + strconv.Quote(e.Script) + ": "
	}
	if e.Line > 0 {
		return fmt.Sprintf("%sline %d, column %d: %s", where, e.Line, e.Column, e.Msg)
	}
	return where + e.Msg
}

func errorAt(pos lexer.Position, format string, args ...any) *CheckError {
	return &CheckError{Line: pos.Line, Column: pos.Col, Msg: fmt.Sprintf(format, args...)}
}

var libErrPos = regexp.MustCompile(`^(?:[^:]*:)?(\d+):(\d+): (.*)$`)

// asCheckError turns the library's "line:col: text" errors into CheckErrors.
func asCheckError(err error) *CheckError {
	var ce *CheckError
	if errors.As(err, &ce) {
		return ce
	}
	msg := err.Error()
	if m := libErrPos.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		col, _ := strconv.Atoi(m[2])
		return &CheckError{Line: line, Column: col, Msg: tidy(m[3])}
	}
	return &CheckError{Msg: tidy(msg)}
}

// tidy drops the library's internal function names from messages.
func tidy(msg string) string {
	for _, p := range []string{"LoadBlock: ", "LoadTest: ", "loadRequire: ", "lexer: ", "parser: "} {
		msg = strings.ReplaceAll(msg, p, "")
	}
	return msg
}

// actionKind is an action this package carries out itself.
type actionKind int

const (
	actKeep actionKind = iota + 1
	actFileInto
	actRedirect
	actReject
	actEreject
	actVacation
)

// actionSpec is the static part of one action of a compiled script; the
// dynamic part (strings after variable expansion) reaches the policy
// through a marker redirect (see marker).
type actionSpec struct {
	kind   actionKind
	fields int // strings carried by the marker
	copy   bool
	create bool
	flags  bool // :flags given (last field)
	// vacation
	seconds bool
	period  int
	subject bool // :subject given
	from    bool
	mime    bool
	handle  bool
}

// program is a compiled script.
type program struct {
	script  *interp.Script
	actions []actionSpec
}

// markerPrefix starts every marker: NUL cannot appear in a script's string
// literals, so no user redirect can look like one.
const markerPrefix = "\x00mr"

func marker(idx int, fields ...string) string {
	return markerPrefix + strconv.Itoa(idx) + "\x00" + strings.Join(fields, "\x00")
}

// ScriptLoader returns the content of the account's script name, for
// include (RFC 6609). It returns store.ErrNotFound for a missing script.
type ScriptLoader func(ctx context.Context, name string) ([]byte, error)

// compiler rewrites parsed scripts into what the library runs.
type compiler struct {
	ctx      context.Context
	load     ScriptLoader // nil: include is checked, not resolved
	actions  []actionSpec
	included map[string]bool
	count    int
	// noRedirect refuses redirect: there is no relay to send it.
	noRedirect bool
}

// compile parses src and loads it into the interpreter. With load set,
// includes are resolved (at delivery); without, they are only checked.
func compile(ctx context.Context, src []byte, load ScriptLoader) (*program, error) {
	return (&compiler{ctx: ctx, load: load, included: map[string]bool{}}).compile(src)
}

func (c *compiler) compile(src []byte) (*program, error) {
	cmds, err := c.file(src, "", nil)
	if err != nil {
		return nil, err
	}
	opts := gosieve.DefaultOptions()
	opts.Lexer.MaxTokens = maxTokens
	opts.Parser.MaxBlockNesting = maxNesting
	opts.Parser.MaxTestNesting = maxNesting
	// Redirects are counted by this package (Options.MaxRedirects); every
	// action reaches the library as a redirect the policy refuses.
	opts.Interp.MaxRedirects = 1 << 30
	// The library's 100ms per match is too tight on a loaded host; input
	// length stays bounded by its default.
	opts.Interp.RegexLimits.MaxExecTime = time.Second
	s, err := interp.LoadScript(cmds, &opts.Interp, libraryExtensions)
	if err != nil {
		return nil, asCheckError(err)
	}
	return &program{script: s, actions: c.actions}, nil
}

// file lexes, parses and rewrites one script (the main one or an included
// one, named name).
func (c *compiler) file(src []byte, name string, stack []string) ([]parser.Cmd, error) {
	fail := func(err error) ([]parser.Cmd, error) {
		ce := asCheckError(err)
		if ce.Script == "" {
			ce.Script = name
		}
		return nil, ce
	}
	if bytes.IndexByte(src, 0) >= 0 {
		return fail(errors.New("script contains a NUL byte"))
	}
	toks, err := lexer.Lex(bytes.NewReader(src), &lexer.Options{MaxTokens: maxTokens})
	if err != nil {
		return fail(err)
	}
	// The library multiplies a number by its K, M or G without a check: an
	// overflow would turn "size :over 8589934592G" into a size every
	// message is over.
	for _, t := range toks {
		if n, ok := t.(lexer.Number); ok && n.Value > math.MaxInt/n.Quantifier.Multiplier() {
			return fail(errorAt(n.Position, "number %d%s is too large", n.Value, strings.TrimRight(string(n.Quantifier), "\x00")))
		}
	}
	stream := lexer.NewStream(toks)
	cmds, err := parser.Parse(stream, &parser.Options{MaxBlockNesting: maxNesting, MaxTestNesting: maxNesting})
	if err != nil {
		return fail(err)
	}
	// The library's parser ends the script at a closing brace that closes
	// no block, and ignores what follows.
	if t := stream.Last(); t != nil {
		line, col := t.LineCol()
		return fail(&CheckError{Line: line, Column: col, Msg: "unexpected closing brace"})
	}
	req := map[string]bool{}
	out, err := c.block(cmds, req, name, stack, true)
	if err != nil {
		return fail(err)
	}
	return out, nil
}

// args splits a command's arguments into tags (with their values) and
// positional arguments.
type args struct {
	tags map[string]parser.Arg // nil value for tags without one
	pos  []parser.Arg
}

func splitArgs(cmd parser.Cmd, valued map[string]bool, flagsOnly map[string]bool) (*args, error) {
	a := &args{tags: map[string]parser.Arg{}}
	for i := 0; i < len(cmd.Args); i++ {
		t, ok := cmd.Args[i].(parser.TagArg)
		if !ok {
			a.pos = append(a.pos, cmd.Args[i])
			continue
		}
		name := strings.ToLower(t.Value)
		if _, dup := a.tags[name]; dup {
			return nil, errorAt(t.Position, "%s: tag :%s given twice", cmd.Id, name)
		}
		switch {
		case valued[name]:
			if i+1 >= len(cmd.Args) {
				return nil, errorAt(t.Position, "%s: tag :%s needs a value", cmd.Id, name)
			}
			i++
			a.tags[name] = cmd.Args[i]
		case flagsOnly[name]:
			a.tags[name] = nil
		default:
			return nil, errorAt(t.Position, "%s: unknown tag :%s", cmd.Id, name)
		}
	}
	if len(cmd.Tests) > 0 || len(cmd.Block) > 0 {
		return nil, errorAt(cmd.Position, "%s: unexpected test or block", cmd.Id)
	}
	return a, nil
}

func (a *args) has(tag string) bool { _, ok := a.tags[tag]; return ok }

func strValue(arg parser.Arg, what string) (string, error) {
	switch v := arg.(type) {
	case parser.StringArg:
		return v.Value, nil
	case parser.StringListArg:
		if len(v.Value) == 1 {
			return v.Value[0], nil
		}
	}
	line, col := arg.LineCol()
	return "", &CheckError{Line: line, Column: col, Msg: what + ": expected a string"}
}

func listValue(arg parser.Arg, what string) ([]string, error) {
	switch v := arg.(type) {
	case parser.StringArg:
		return []string{v.Value}, nil
	case parser.StringListArg:
		return v.Value, nil
	}
	line, col := arg.LineCol()
	return nil, &CheckError{Line: line, Column: col, Msg: what + ": expected a string list"}
}

func numValue(arg parser.Arg, what string) (int, error) {
	if v, ok := arg.(parser.NumberArg); ok {
		return v.Value, nil
	}
	line, col := arg.LineCol()
	return 0, &CheckError{Line: line, Column: col, Msg: what + ": expected a number"}
}

// onePos returns the single positional string argument of cmd.
func onePos(cmd parser.Cmd, a *args, what string) (string, error) {
	if len(a.pos) != 1 {
		return "", errorAt(cmd.Position, "%s: expected one %s", cmd.Id, what)
	}
	return strValue(a.pos[0], cmd.Id)
}

func needs(req map[string]bool, cmd parser.Cmd, ext string) error {
	if !req[ext] {
		return errorAt(cmd.Position, "%s: missing require %q", strings.ToLower(cmd.Id), ext)
	}
	return nil
}

// redirectCmd is the library command that carries a marker.
func (c *compiler) redirectCmd(cmd parser.Cmd, spec actionSpec, fields ...string) parser.Cmd {
	spec.fields = len(fields)
	c.actions = append(c.actions, spec)
	return parser.Cmd{Position: cmd.Position, Id: "redirect",
		Args: []parser.Arg{parser.StringArg{Value: marker(len(c.actions)-1, fields...), Position: cmd.Position}}}
}

func (c *compiler) block(cmds []parser.Cmd, req map[string]bool, name string, stack []string, top bool) ([]parser.Cmd, error) {
	out := make([]parser.Cmd, 0, len(cmds))
	for _, cmd := range cmds {
		id := strings.ToLower(cmd.Id)
		switch id {
		case "require":
			a, err := splitArgs(cmd, nil, nil)
			if err != nil {
				return nil, err
			}
			if len(a.pos) != 1 {
				return nil, errorAt(cmd.Position, "require: expected a string list")
			}
			exts, err := listValue(a.pos[0], "require")
			if err != nil {
				return nil, err
			}
			var keep []string
			for _, e := range exts {
				if !knownExtension(e) {
					line, col := a.pos[0].LineCol()
					return nil, &CheckError{Line: line, Column: col, Msg: fmt.Sprintf("require: unknown extension %q", e)}
				}
				req[e] = true
				if !ownExtensions[e] {
					keep = append(keep, e)
				}
			}
			if len(keep) > 0 {
				out = append(out, parser.Cmd{Position: cmd.Position, Id: "require",
					Args: []parser.Arg{parser.StringListArg{Value: keep, Position: cmd.Position}}})
			}
		case "if", "elsif", "else":
			b, err := c.block(cmd.Block, req, name, stack, false)
			if err != nil {
				return nil, err
			}
			cmd.Block = b
			out = append(out, cmd)
		case "keep":
			a, err := splitArgs(cmd, map[string]bool{"flags": true}, nil)
			if err != nil {
				return nil, err
			}
			if len(a.pos) != 0 {
				return nil, errorAt(cmd.Position, "keep: unexpected argument")
			}
			spec := actionSpec{kind: actKeep}
			var fields []string
			if f, ok := a.tags["flags"]; ok {
				if err := needs(req, cmd, "imap4flags"); err != nil {
					return nil, err
				}
				l, err := listValue(f, "keep :flags")
				if err != nil {
					return nil, err
				}
				spec.flags = true
				fields = append(fields, strings.Join(l, " "))
			}
			out = append(out, c.redirectCmd(cmd, spec, fields...))
		case "fileinto":
			if err := needs(req, cmd, "fileinto"); err != nil {
				return nil, err
			}
			a, err := splitArgs(cmd, map[string]bool{"flags": true}, map[string]bool{"copy": true, "create": true})
			if err != nil {
				return nil, err
			}
			mb, err := onePos(cmd, a, "mailbox name")
			if err != nil {
				return nil, err
			}
			if !strings.Contains(mb, "${") {
				if _, err := store.CanonicalMailboxName(mb); err != nil {
					return nil, errorAt(cmd.Position, "fileinto: bad mailbox name %q: %v", mb, err)
				}
			}
			spec := actionSpec{kind: actFileInto, copy: a.has("copy"), create: a.has("create")}
			if spec.copy {
				if err := needs(req, cmd, "copy"); err != nil {
					return nil, err
				}
			}
			if spec.create {
				if err := needs(req, cmd, "mailbox"); err != nil {
					return nil, err
				}
			}
			fields := []string{mb}
			if f, ok := a.tags["flags"]; ok {
				if err := needs(req, cmd, "imap4flags"); err != nil {
					return nil, err
				}
				l, err := listValue(f, "fileinto :flags")
				if err != nil {
					return nil, err
				}
				spec.flags = true
				fields = append(fields, strings.Join(l, " "))
			}
			out = append(out, c.redirectCmd(cmd, spec, fields...))
		case "redirect":
			if c.noRedirect {
				return nil, errorAt(cmd.Position, "redirect: this server has no relay ([relay] address) to send mail on with")
			}
			a, err := splitArgs(cmd, nil, map[string]bool{"copy": true})
			if err != nil {
				return nil, err
			}
			addr, err := onePos(cmd, a, "address")
			if err != nil {
				return nil, err
			}
			if !strings.Contains(addr, "${") {
				if _, err := parseAddr(addr); err != nil {
					return nil, errorAt(cmd.Position, "redirect: %v", err)
				}
			}
			spec := actionSpec{kind: actRedirect, copy: a.has("copy")}
			if spec.copy {
				if err := needs(req, cmd, "copy"); err != nil {
					return nil, err
				}
			}
			out = append(out, c.redirectCmd(cmd, spec, addr))
		case "reject", "ereject":
			if err := needs(req, cmd, id); err != nil {
				return nil, err
			}
			a, err := splitArgs(cmd, nil, nil)
			if err != nil {
				return nil, err
			}
			reason, err := onePos(cmd, a, "reason")
			if err != nil {
				return nil, err
			}
			kind := actReject
			if id == "ereject" {
				kind = actEreject
			}
			out = append(out, c.redirectCmd(cmd, actionSpec{kind: kind}, reason))
		case "vacation":
			if err := needs(req, cmd, "vacation"); err != nil {
				return nil, err
			}
			a, err := splitArgs(cmd, map[string]bool{"days": true, "seconds": true, "subject": true, "from": true,
				"addresses": true, "handle": true}, map[string]bool{"mime": true})
			if err != nil {
				return nil, err
			}
			reason, err := onePos(cmd, a, "reason")
			if err != nil {
				return nil, err
			}
			spec := actionSpec{kind: actVacation, period: 7 * 86400, mime: a.has("mime")}
			if a.has("days") && a.has("seconds") {
				return nil, errorAt(cmd.Position, "vacation: :days and :seconds exclude each other")
			}
			if v, ok := a.tags["days"]; ok {
				n, err := numValue(v, "vacation :days")
				if err != nil {
					return nil, err
				}
				// RFC 5230 §4.1: at least one day.
				spec.period = max(n, 1) * 86400
			}
			if v, ok := a.tags["seconds"]; ok {
				if err := needs(req, cmd, "vacation-seconds"); err != nil {
					return nil, err
				}
				n, err := numValue(v, "vacation :seconds")
				if err != nil {
					return nil, err
				}
				spec.seconds = true
				spec.period = n
			}
			str := func(tag string) (string, error) {
				v, ok := a.tags[tag]
				if !ok {
					return "", nil
				}
				return strValue(v, "vacation :"+tag)
			}
			subject, err := str("subject")
			if err != nil {
				return nil, err
			}
			from, err := str("from")
			if err != nil {
				return nil, err
			}
			handle, err := str("handle")
			if err != nil {
				return nil, err
			}
			var addrs []string
			if v, ok := a.tags["addresses"]; ok {
				if addrs, err = listValue(v, "vacation :addresses"); err != nil {
					return nil, err
				}
			}
			spec.subject, spec.from, spec.handle = a.has("subject"), a.has("from"), a.has("handle")
			out = append(out, c.redirectCmd(cmd, spec, reason, subject, from, handle, strings.Join(addrs, "\x01")))
		case "include":
			cmds, err := c.include(cmd, req, name, stack)
			if err != nil {
				return nil, err
			}
			out = append(out, cmds...)
		case "global":
			if err := needs(req, cmd, "include"); err != nil {
				return nil, err
			}
			if err := needs(req, cmd, "variables"); err != nil {
				return nil, err
			}
			// Included scripts share one interpreter, so every variable
			// is already global.
		case "return":
			if err := needs(req, cmd, "include"); err != nil {
				return nil, err
			}
			return nil, errorAt(cmd.Position, "return is not supported")
		case "addheader", "deleteheader":
			if err := needs(req, cmd, "editheader"); err != nil {
				return nil, err
			}
			out = append(out, cmd)
		default:
			out = append(out, cmd)
		}
	}
	return out, nil
}

// include inlines an included script (RFC 6609 §3.2), resolved from the
// account's own scripts (":personal"; ":global" scripts do not exist here).
func (c *compiler) include(cmd parser.Cmd, req map[string]bool, name string, stack []string) ([]parser.Cmd, error) {
	if err := needs(req, cmd, "include"); err != nil {
		return nil, err
	}
	a, err := splitArgs(cmd, nil, map[string]bool{"personal": true, "global": true, "once": true, "optional": true})
	if err != nil {
		return nil, err
	}
	target, err := onePos(cmd, a, "script name")
	if err != nil {
		return nil, err
	}
	if a.has("global") {
		return nil, errorAt(cmd.Position, "include :global: there are no global scripts")
	}
	if err := ValidName(target); err != nil {
		return nil, errorAt(cmd.Position, "include: %v", err)
	}
	if c.load == nil {
		return nil, nil
	}
	for _, s := range append([]string{name}, stack...) {
		if s == target {
			return nil, errorAt(cmd.Position, "include: %q includes itself", target)
		}
	}
	if a.has("once") && c.included[target] {
		return nil, nil
	}
	if len(stack) >= maxIncludeDepth {
		return nil, errorAt(cmd.Position, "include: nested deeper than %d", maxIncludeDepth)
	}
	if c.count++; c.count > maxIncludes {
		return nil, errorAt(cmd.Position, "include: more than %d includes", maxIncludes)
	}
	src, err := c.load(c.ctx, target)
	if errors.Is(err, store.ErrNotFound) {
		if a.has("optional") {
			return nil, nil
		}
		return nil, errorAt(cmd.Position, "include: no script %q", target)
	}
	if err != nil {
		return nil, err
	}
	c.included[target] = true
	return c.file(src, target, append([]string{name}, stack...))
}

package managesieve

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// checkName validates a script name (RFC 5804 §1.6): UTF-8 without the
// control characters U+0000–U+001F, U+007F–U+009F, U+2028 and U+2029. It
// queues a NO and returns false for a bad name.
//
// Net-Unicode (RFC 5198) also asks for Normalization Form C; names are
// compared as sent, without normalizing.
func (c *conn) checkName(t token, allowEmpty bool) bool {
	msg := ""
	switch {
	case t.tooBig || len(t.s) > MaxNameLength:
		msg = fmt.Sprintf("Script name longer than %d octets", MaxNameLength)
	case t.s == "" && !allowEmpty:
		msg = "Script name is empty"
	case !utf8.ValidString(t.s):
		msg = "Script name is not valid UTF-8"
	default:
		for _, r := range t.s {
			if r <= 0x1f || (r >= 0x7f && r <= 0x9f) || r == 0x2028 || r == 0x2029 {
				msg = "Script name contains a control character"
				break
			}
		}
	}
	if msg == "" {
		return true
	}
	c.writeResponse(no("", msg))
	return false
}

// checkScriptSize queues NO (QUOTA/MAXSIZE) and returns false for a script
// literal over Options.MaxScriptSize (read and thrown away by the parser).
func (c *conn) checkScriptSize(t token) bool {
	if !t.tooBig {
		return true
	}
	c.writeResponse(no(codeQuotaSize, c.tooBigText()))
	return false
}

func (c *conn) tooBigText() string {
	return fmt.Sprintf("Script larger than the limit of %d octets", c.srv.opts.MaxScriptSize)
}

// okWarnings answers OK, or OK (WARNINGS) with the checker's warnings
// (RFC 5804 §1.3, §2.6).
func (c *conn) okWarnings(warnings string) {
	if warnings == "" {
		c.ok("")
		return
	}
	c.writeResponse(response{status: "OK", code: codeWarnings, text: warnings})
}

// cmdHaveSpace: HAVESPACE name size (RFC 5804 §2.5).
func (c *conn) cmdHaveSpace(args []token) {
	if !c.checkName(args[0], false) {
		return
	}
	// number: 32-bit unsigned (RFC 5804 §4).
	size, err := strconv.ParseUint(args[1].s, 10, 32)
	if err != nil || args[1].isString {
		c.writeResponse(no("", "Size must be a number"))
		return
	}
	if int64(size) > c.srv.opts.MaxScriptSize {
		c.writeResponse(no(codeQuotaSize, c.tooBigText()))
		return
	}
	if err := c.scripts.HaveSpace(c.ctx, args[0].s, int64(size)); err != nil {
		c.fail("HAVESPACE", err)
		return
	}
	c.ok("")
}

// cmdPutScript: PUTSCRIPT name script (RFC 5804 §2.6).
func (c *conn) cmdPutScript(args []token) {
	if !c.checkName(args[0], false) || !c.checkScriptSize(args[1]) {
		return
	}
	warnings, err := c.scripts.Put(c.ctx, args[0].s, args[1].s)
	if err != nil {
		c.fail("PUTSCRIPT", err)
		return
	}
	c.log.Info("script stored", "script", args[0].s, "size", len(args[1].s))
	c.okWarnings(warnings)
}

// cmdCheckScript: CHECKSCRIPT script (RFC 5804 §2.12).
func (c *conn) cmdCheckScript(args []token) {
	if !c.checkScriptSize(args[0]) {
		return
	}
	warnings, err := c.scripts.Check(c.ctx, args[0].s)
	if err != nil {
		c.fail("CHECKSCRIPT", err)
		return
	}
	c.okWarnings(warnings)
}

// cmdListScripts: one line per script, the active one marked ACTIVE (RFC
// 5804 §2.7).
func (c *conn) cmdListScripts([]token) {
	list, err := c.scripts.List(c.ctx)
	if err != nil {
		c.fail("LISTSCRIPTS", err)
		return
	}
	for _, s := range list {
		c.out = appendString(c.out, s.Name)
		if s.Active {
			c.out = append(c.out, " ACTIVE"...)
		}
		c.out = append(c.out, "\r\n"...)
	}
	c.ok("")
}

// cmdSetActive: SETACTIVE name; "" deactivates (RFC 5804 §2.8).
func (c *conn) cmdSetActive(args []token) {
	if !c.checkName(args[0], true) {
		return
	}
	if err := c.scripts.SetActive(c.ctx, args[0].s); err != nil {
		c.fail("SETACTIVE", err)
		return
	}
	if args[0].s == "" {
		c.log.Info("scripts deactivated")
	} else {
		c.log.Info("script activated", "script", args[0].s)
	}
	c.ok("")
}

// cmdGetScript: the script as a literal, then OK (RFC 5804 §2.9).
func (c *conn) cmdGetScript(args []token) {
	if !c.checkName(args[0], false) {
		return
	}
	content, err := c.scripts.Get(c.ctx, args[0].s)
	if err != nil {
		c.fail("GETSCRIPT", err)
		return
	}
	c.out = appendLiteral(c.out, content)
	c.out = append(c.out, "\r\n"...)
	c.ok("")
}

// cmdDeleteScript: DELETESCRIPT name (RFC 5804 §2.10).
func (c *conn) cmdDeleteScript(args []token) {
	if !c.checkName(args[0], false) {
		return
	}
	if err := c.scripts.Delete(c.ctx, args[0].s); err != nil {
		c.fail("DELETESCRIPT", err)
		return
	}
	c.log.Info("script deleted", "script", args[0].s)
	c.ok("")
}

// cmdRenameScript: RENAMESCRIPT old new (RFC 5804 §2.11).
func (c *conn) cmdRenameScript(args []token) {
	if !c.checkName(args[0], false) || !c.checkName(args[1], false) {
		return
	}
	if err := c.scripts.Rename(c.ctx, args[0].s, args[1].s); err != nil {
		c.fail("RENAMESCRIPT", err)
		return
	}
	c.log.Info("script renamed", "from", args[0].s, "to", args[1].s)
	c.ok("")
}

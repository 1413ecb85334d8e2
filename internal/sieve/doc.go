// Package sieve owns mail filtering: it checks and manages accounts' Sieve
// scripts (RFC 5228) kept in the store, runs the active script for each
// recipient at delivery, and sends what filters send (vacation replies,
// redirects) from the store's outbox to the relay MTA.
//
// The language is github.com/migadu/go-sieve's: lexer, parser, tests,
// variables, imap4flags state and editheader state. Actions are this
// package's: before loading, the parsed script is rewritten so that every
// keep, fileinto, redirect, reject, ereject and vacation becomes a redirect
// to a marker string (it starts with NUL, which no script literal can hold)
// carrying the action's index and its strings. The library expands
// variables in that string and asks the policy (RedirectAllowed), which
// records the action with the flags and header edits current at that
// point of the script and refuses the redirect. This gives per-action
// :flags (RFC 5232), :copy (RFC 3894), :create (RFC 5490), reject/ereject
// (RFC 5429), vacation :seconds (RFC 6131) and include (RFC 6609, inlined)
// on a library that lacks them.
//
// Invariants:
//   - A script that fails, at check or at run time, never loses a message:
//     Run returns Fallback, one copy in INBOX, and logs why.
//   - Extensions are checked when a script is stored (Check, with line
//     numbers), never first at delivery.
//   - Mail leaves the outbox only after the relay's 250 (or when given
//     up, logged); a crash between the two sends it again, never not at all.
//   - Limits (script size and count, redirects per message) are enforced
//     here, not in the store.
package sieve

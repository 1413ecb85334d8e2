package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Snapshot files keep the light index of big mailboxes across restarts, so
// that the first SELECT after a restart reads one file and the few rows
// changed since it was written, instead of every row (cold open). A file is
// only a hint: it names the mailbox id, UIDVALIDITY and HIGHESTMODSEQ it
// reflects, Open brings it forward by MODSEQ from the store, and checks the
// message count against the mailbox row; anything that does not fit (a
// damaged file, a count that differs) falls back to reading every row.
// Files are named by mailbox id, which never recurs, never by client input.

// snapshotMin is the size from which a mailbox's snapshot is kept on disk.
const snapshotMin = 1000

const snapshotMagic = "mailroom-live-1\n"

// snapshotFiles reads and writes snapshot files in dir ("" turns them off).
type snapshotFiles struct{ dir string }

func (f snapshotFiles) path(mailboxID int64) string {
	return filepath.Join(f.dir, strconv.FormatInt(mailboxID, 10)+".idx")
}

// snapshotHeader is what a file says it reflects.
type snapshotHeader struct {
	AccountID, MailboxID int64
	UIDValidity          uint32
	HighestModSeq        uint64
	UIDNext              uint32
}

// save writes items atomically (temp file, fsync, rename).
func (f snapshotFiles) save(h snapshotHeader, items []Item) error {
	if f.dir == "" {
		return nil
	}
	if err := os.MkdirAll(f.dir, 0o700); err != nil {
		return err
	}
	b := encodeSnapshot(h, items)
	tmp, err := os.CreateTemp(f.dir, "tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), f.path(h.MailboxID))
}

// load reads the file of a mailbox; ok is false when there is none or it
// does not belong to this identity.
func (f snapshotFiles) load(accountID, mailboxID int64, uidValidity uint32) (snapshotHeader, []Item, bool) {
	if f.dir == "" {
		return snapshotHeader{}, nil, false
	}
	b, err := os.ReadFile(f.path(mailboxID))
	if err != nil {
		return snapshotHeader{}, nil, false
	}
	h, items, err := decodeSnapshot(b)
	if err != nil || h.AccountID != accountID || h.MailboxID != mailboxID || h.UIDValidity != uidValidity {
		f.remove(mailboxID)
		return snapshotHeader{}, nil, false
	}
	return h, items, true
}

// headers returns the headers of up to max snapshot files, newest first.
func (f snapshotFiles) headers(max int) []snapshotHeader {
	if f.dir == "" {
		return nil
	}
	entries, err := os.ReadDir(f.dir)
	if err != nil {
		return nil
	}
	type file struct {
		id  int64
		mod time.Time
	}
	var files []file
	for _, e := range entries {
		id, err := strconv.ParseInt(strings.TrimSuffix(e.Name(), ".idx"), 10, 64)
		if err != nil || !strings.HasSuffix(e.Name(), ".idx") {
			continue
		}
		if fi, err := e.Info(); err == nil {
			files = append(files, file{id, fi.ModTime()})
		}
	}
	slices.SortFunc(files, func(a, b file) int { return b.mod.Compare(a.mod) })
	var out []snapshotHeader
	for _, fl := range files {
		if len(out) >= max {
			break
		}
		if h, ok := f.header(fl.id); ok {
			out = append(out, h)
		}
	}
	return out
}

// header reads the header of a mailbox's snapshot file.
func (f snapshotFiles) header(mailboxID int64) (snapshotHeader, bool) {
	fh, err := os.Open(f.path(mailboxID))
	if err != nil {
		return snapshotHeader{}, false
	}
	defer fh.Close()
	buf := make([]byte, len(snapshotMagic)+5*binary.MaxVarintLen64)
	n, _ := io.ReadFull(fh, buf)
	buf = buf[:n]
	if !bytes.HasPrefix(buf, []byte(snapshotMagic)) {
		return snapshotHeader{}, false
	}
	r := &snapReader{b: buf[len(snapshotMagic):]}
	h := snapshotHeader{AccountID: r.varint(), MailboxID: r.varint(), UIDValidity: uint32(r.uvarint())}
	if r.err != nil || h.MailboxID != mailboxID {
		return snapshotHeader{}, false
	}
	return h, true
}

func (f snapshotFiles) remove(mailboxID int64) {
	if f.dir != "" {
		os.Remove(f.path(mailboxID))
	}
}

// encodeSnapshot lays out: magic, header, the distinct flag lists, the
// items, and a CRC-32 of all that.
func encodeSnapshot(h snapshotHeader, items []Item) []byte {
	var b []byte
	b = append(b, snapshotMagic...)
	b = binary.AppendVarint(b, h.AccountID)
	b = binary.AppendVarint(b, h.MailboxID)
	b = binary.AppendUvarint(b, uint64(h.UIDValidity))
	b = binary.AppendUvarint(b, h.HighestModSeq)
	b = binary.AppendUvarint(b, uint64(h.UIDNext))
	// Flag lists repeat a lot: each distinct one is written once.
	lists := map[string]int{}
	var order []string
	for i := range items {
		k := strings.Join(items[i].Flags, " ")
		if _, ok := lists[k]; !ok {
			lists[k] = len(order)
			order = append(order, k)
		}
	}
	b = binary.AppendUvarint(b, uint64(len(order)))
	for _, k := range order {
		b = appendString(b, k)
	}
	b = binary.AppendUvarint(b, uint64(len(items)))
	var prevUID uint32
	for i := range items {
		it := &items[i]
		b = binary.AppendUvarint(b, uint64(it.UID-prevUID))
		prevUID = it.UID
		b = binary.AppendUvarint(b, it.ModSeq)
		b = binary.AppendVarint(b, it.EmailID)
		b = binary.AppendVarint(b, it.Size)
		b = binary.AppendUvarint(b, uint64(lists[strings.Join(it.Flags, " ")]))
		_, off := it.InternalDate.Zone()
		b = binary.AppendVarint(b, it.InternalDate.Unix())
		b = binary.AppendVarint(b, int64(off))
		b = binary.AppendVarint(b, it.SaveDate.Unix())
		if raw, err := hex.DecodeString(it.BlobID); err == nil && len(raw) == 16 && hex.EncodeToString(raw) == it.BlobID {
			b = append(b, 16)
			b = append(b, raw...)
		} else {
			b = append(b, 0)
			b = appendString(b, it.BlobID)
		}
	}
	return binary.LittleEndian.AppendUint32(b, crc32.ChecksumIEEE(b))
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

var errBadSnapshot = errors.New("damaged snapshot file")

// snapReader decodes a snapshot; the first error sticks.
type snapReader struct {
	b   []byte
	err error
}

func (r *snapReader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err, r.b = errBadSnapshot, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err, r.b = errBadSnapshot, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *snapReader) bytes(n uint64) []byte {
	if n > uint64(len(r.b)) {
		r.err, r.b = errBadSnapshot, nil
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func decodeSnapshot(b []byte) (snapshotHeader, []Item, error) {
	var h snapshotHeader
	if len(b) < len(snapshotMagic)+4 || !bytes.HasPrefix(b, []byte(snapshotMagic)) {
		return h, nil, errBadSnapshot
	}
	body, sum := b[:len(b)-4], binary.LittleEndian.Uint32(b[len(b)-4:])
	if crc32.ChecksumIEEE(body) != sum {
		return h, nil, errBadSnapshot
	}
	r := &snapReader{b: body[len(snapshotMagic):]}
	h.AccountID = r.varint()
	h.MailboxID = r.varint()
	h.UIDValidity = uint32(r.uvarint())
	h.HighestModSeq = r.uvarint()
	h.UIDNext = uint32(r.uvarint())
	nlists := r.uvarint()
	if nlists > uint64(len(r.b)) {
		return h, nil, errBadSnapshot
	}
	lists := make([][]string, nlists)
	for i := range lists {
		if s := string(r.bytes(r.uvarint())); s != "" {
			lists[i] = strings.Split(s, " ")
		}
	}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		return h, nil, errBadSnapshot
	}
	items := make([]Item, n)
	zones := map[int64]*time.Location{}
	// Body ids are hex-encoded into one buffer and become one string, of
	// which each item holds a slice: one allocation instead of one each.
	hexIDs := make([]byte, 0, 32*n)
	idEnds := make([]int32, n) // end of item i's id in hexIDs; -1: its own string
	var uid uint32
	for i := range items {
		it := &items[i]
		uid += uint32(r.uvarint())
		it.UID = uid
		it.ModSeq = r.uvarint()
		it.EmailID = r.varint()
		it.Size = r.varint()
		li := r.uvarint()
		if li >= uint64(len(lists)) {
			return h, nil, errBadSnapshot
		}
		it.Flags = lists[li]
		date, off := r.varint(), r.varint()
		loc := zones[off]
		if loc == nil {
			loc = time.FixedZone("", int(off))
			zones[off] = loc
		}
		it.InternalDate = time.Unix(date, 0).In(loc)
		it.SaveDate = time.Unix(r.varint(), 0)
		switch k := r.bytes(1); {
		case len(k) == 1 && k[0] == 16:
			hexIDs = hex.AppendEncode(hexIDs, r.bytes(16))
			idEnds[i] = int32(len(hexIDs))
		case len(k) == 1 && k[0] == 0:
			it.BlobID = string(r.bytes(r.uvarint()))
			idEnds[i] = -1
		default:
			return h, nil, errBadSnapshot
		}
		if r.err != nil {
			return h, nil, r.err
		}
	}
	if r.err != nil || len(r.b) != 0 {
		return h, nil, fmt.Errorf("%w: trailing bytes", errBadSnapshot)
	}
	ids := string(hexIDs)
	for i := range items {
		if end := int(idEnds[i]); end >= 0 {
			items[i].BlobID = ids[end-32 : end]
		}
	}
	return h, items, nil
}

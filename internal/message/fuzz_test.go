package message

import (
	"bufio"
	"bytes"
	"os"
	"reflect"
	"testing"
)

// FuzzParse checks that any input parses without panic into a structure that
// passes checkStructure (offsets inside the file and their parents, parts in
// order and not overlapping, exact line counts and decoded sizes, an exact
// Encode/Decode round trip), also when lines are read in small pieces, and
// that Decode survives any bytes.
func FuzzParse(f *testing.F) {
	for _, file := range fixtures(f) {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\nx\r\n--b--\r\n",
		"Content-Type: message/rfc822\r\n\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\n\n--b--",
		"Content-Type: text/plain; name*0*=utf-8''%41; name*1=B\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n=41=\r\n=4",
		"To: g: a@b, <c@d>;, e\r\nFrom: \"x\" <@r:y@z>\r\n\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if err := checkStructure(data, s); err != nil {
			t.Fatal(err)
		}
		s, err = parseReader(bufio.NewReaderSize(bytes.NewReader(data), 16))
		if err != nil {
			t.Fatal(err)
		}
		if err := checkStructure(data, s); err != nil {
			t.Fatalf("16-byte buffer: %v", err)
		}
		_ = DecodeHeader(string(data))
		if d, err := Decode(data); err == nil {
			d2, err := Decode(d.Encode())
			if err != nil || !reflect.DeepEqual(d, d2) {
				t.Fatalf("Decode(Encode(Decode(data))) = %v, %v; want %v", d2, err, d)
			}
		}
	})
}

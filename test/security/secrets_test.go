package security

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Probe: share keys sat in the database in plaintext and every connect logged "who":"share:<key>", so
// whoever read a backup or the log held working keys. No bearer credential — share key, token, display
// secret — may appear in plaintext in the database files or the server's log.
func TestNoSecretsAtRestOrInLogs(t *testing.T) {
	data := newDataDir(t)
	addUser(t, data, "ada", "correct horse battery staple", false)
	s := startServer(t, data)
	owner := s.login("ada", "correct horse battery staple")
	start := s.startDesktop(owner, "xterm")
	session := start["id"].(string)
	secrets := map[string]string{"login token": owner, "session/start secret": start["password"].(string)}
	api := s.must("/api/v1/token.create", owner, map[string]any{"token_lifetime": 3600})
	secrets["api token"] = api["data"].(map[string]any)["attributes"].(map[string]any)["token"].(string)
	for i := range 3 {
		key, _ := newShareKey(t, s, owner, session)
		secrets["share key "+string(rune('a'+i))] = key
		c := result(s.must("/v3/api/share/connect", "", map[string]any{"id": session, "key": key}))
		secrets["share connect secret "+string(rune('a'+i))] = c["password"].(string)
		// Use one secret: connect and disconnect are logged.
		if i == 0 {
			done := openDisplay(t, s, c["url"].(string))
			s.must("/v3/api/share/delete", owner, map[string]any{"id": session, "key": key})
			<-done
		}
	}
	list := s.must("/v3/api/share/list", owner, map[string]any{"id": session})
	for name, v := range secrets {
		if strings.HasPrefix(name, "share key") && strings.Contains(toJSON(list), v) {
			t.Errorf("share/list answers %s in full", name)
		}
	}
	s.stop() // flush the log and checkpoint the database

	files, _ := filepath.Glob(filepath.Join(data, "deskhub.db*"))
	if len(files) == 0 {
		t.Fatal("no database file in the data dir")
	}
	blobs := map[string][]byte{"server log": []byte(s.logs.String())}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		blobs[filepath.Base(f)] = b
	}
	for where, b := range blobs {
		for name, v := range secrets {
			if v != "" && bytes.Contains(b, []byte(v)) {
				t.Errorf("%s holds the %s in plaintext", where, name)
			}
		}
	}
	if !strings.Contains(s.logs.String(), `"share:`) {
		t.Errorf("the log names no share connection at all (is the probe looking at the right log?)")
	}
}

func toJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

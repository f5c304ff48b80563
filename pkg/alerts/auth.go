package alerts

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

// Credentials are what a caller must present, read from files (a mounted Secret) so that
// a rotated Secret takes effect without a restart: a bearer token (Alertmanager's
// http_config.authorization), or a user name and password (basic_auth). Either may be set;
// a request passes with any one that matches.
type Credentials struct {
	TokenFile    string
	Username     string
	PasswordFile string
}

// Configured reports whether any credential is set.
func (c *Credentials) Configured() bool {
	return c.TokenFile != "" || (c.Username != "" && c.PasswordFile != "")
}

// Authenticator checks requests against Credentials, reading the files as they change.
type Authenticator struct {
	c               Credentials
	token, password secretFile
}

// NewAuthenticator validates c (set credentials must be readable and not empty) and
// returns its authenticator.
func NewAuthenticator(c Credentials) (*Authenticator, error) {
	if c.Username != "" && c.PasswordFile == "" || c.Username == "" && c.PasswordFile != "" {
		return nil, errors.New("basic auth needs both a user name and a password file")
	}
	if !c.Configured() {
		return nil, errors.New("no credentials configured")
	}
	a := &Authenticator{c: c}
	if c.TokenFile != "" {
		if _, err := a.token.read(c.TokenFile); err != nil {
			return nil, err
		}
	}
	if c.PasswordFile != "" {
		if _, err := a.password.read(c.PasswordFile); err != nil {
			return nil, err
		}
	}
	return a, nil
}

// Allow reports whether r presents a valid credential. It compares in constant time and
// never reads the body. A nil Authenticator allows everything (an explicitly
// unauthenticated receiver).
func (a *Authenticator) Allow(r *http.Request) bool {
	if a == nil {
		return true
	}
	c := &a.c
	h := r.Header.Get("Authorization")
	if c.TokenFile != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			if want, err := a.token.read(c.TokenFile); err == nil && equal([]byte(strings.TrimSpace(tok)), want) {
				return true
			}
		}
	}
	if c.Username != "" && c.PasswordFile != "" {
		user, pass, ok := r.BasicAuth()
		if ok {
			want, err := a.password.read(c.PasswordFile)
			userOK := equal([]byte(user), []byte(c.Username))
			if err == nil && equal([]byte(pass), want) && userOK {
				return true
			}
		}
	}
	return false
}

// equal compares in constant time; an empty expectation matches nothing.
func equal(got, want []byte) bool {
	return len(want) > 0 && subtle.ConstantTimeCompare(got, want) == 1
}

// secretFile caches a file's trimmed contents, reading it again when it changes (a
// Secret's volume swaps a symlink, which changes the modification time).
type secretFile struct {
	mu      sync.Mutex
	modTime time.Time
	size    int64
	value   []byte
}

func (s *secretFile) read(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("reading credential %s: %w", path, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.value != nil && fi.ModTime().Equal(s.modTime) && fi.Size() == s.size {
		return s.value, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading credential %s: %w", path, err)
	}
	v := bytes.TrimSpace(data)
	if len(v) == 0 {
		return nil, fmt.Errorf("credential file %s is empty", path)
	}
	s.modTime, s.size, s.value = fi.ModTime(), fi.Size(), v
	return v, nil
}

package scope

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzCheck feeds targets as an alert could write them. Whatever is
// accepted must be, read plainly, one of acme's hosts.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"web.acme.internal", "ACME.internal.", "evil.com.acme.internal", "acme.internal.evil.com",
		"10.0.0.5", "[::1]", "::ffff:10.0.0.5", "0x7f.1", "127.1", "fe80::1%eth0", "", ".", "*.acme.internal",
		"web.acme.internal\x00.evil.com", "web.acme.internal/evil", "\u212Aube.acme.internal",
	} {
		f.Add(s)
	}
	h, err := New("acme", acme)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, target string) {
		if h.Check(target) != nil {
			return
		}
		if strings.Trim(target, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_:[]") != "" {
			t.Fatalf("accepted %q with characters no host has", target)
		}
		name := strings.TrimSuffix(strings.ToLower(target), ".")
		isName := name == "db.acme.example" || strings.HasSuffix(name, ".acme.internal") && len(name) > len(".acme.internal")
		isAddr := strings.Contains(target, ":") || strings.HasPrefix(target, "10.0.0.") || target == "192.168.1.7"
		if !isName && !isAddr {
			t.Fatalf("accepted %q, which is none of acme's hosts", target)
		}
		if isName && strings.Contains(target, ":") {
			t.Fatalf("accepted %q as a name with a colon", target)
		}
	})
}

// FuzzCheckURL checks that an accepted URL's host, as net/url (and so
// net/http) reads it, is itself accepted.
func FuzzCheckURL(f *testing.F) {
	for _, s := range []string{
		"https://web.acme.internal/health", "http://web.acme.internal@evil.example/", `http://evil.example\@web.acme.internal/`,
		"http://[::1]:8080/", "http://10.0.0.5:80/x?y#z", "HTTP://WEB.ACME.INTERNAL.:8080", "http://web.acme.internal%2eevil.example/",
	} {
		f.Add(s)
	}
	h, err := New("acme", acme)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		if h.CheckURL(raw) != nil {
			return
		}
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("accepted %q, which does not parse: %v", raw, err)
		}
		if u.User != nil || (u.Scheme != "http" && u.Scheme != "https") {
			t.Fatalf("accepted %q with user %v, scheme %q", raw, u.User, u.Scheme)
		}
		if err := h.Check(u.Hostname()); err != nil {
			t.Fatalf("accepted %q, but its host %q is not: %v", raw, u.Hostname(), err)
		}
	})
}

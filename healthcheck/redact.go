package healthcheck

import (
	"errors"
	"net/url"
	"strings"
)

// RedactedURL stands for the password and each query value of a check's
// URL wherever the URL is shown: in API answers and in logs.
const RedactedURL = "xxxxx"

// RedactURL returns a check's URL with its password and every query value
// masked: those are where credentials of a health endpoint live. A string
// that does not parse as a URL is masked whole.
func RedactURL(s string) string {
	if s == "" {
		return ""
	}
	u, err := url.Parse(s)
	if err != nil {
		return RedactedURL
	}
	if _, ok := u.User.Password(); !ok && u.RawQuery == "" {
		return s // nothing to mask: shown as written
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), RedactedURL)
	}
	if u.RawQuery != "" {
		parts := strings.Split(u.RawQuery, "&")
		for i, part := range parts {
			if name, _, ok := strings.Cut(part, "="); ok {
				parts[i] = name + "=" + RedactedURL
			} else if part != "" {
				parts[i] = RedactedURL
			}
		}
		u.RawQuery = strings.Join(parts, "&")
	}
	return u.String()
}

// redactError returns err with the URL of an HTTP request it reports
// masked, for logs: net/http quotes the whole URL it was asked to get.
func redactError(err error) error {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return err
	}
	c := *ue
	c.URL = RedactURL(ue.URL)
	return &c
}

package app

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/service"
	"github.com/amsproject/ams/services/ingest/internal/auth"
	"github.com/amsproject/ams/services/ingest/internal/httpapi"
	"github.com/amsproject/ams/services/ingest/internal/sigauth"
	"github.com/amsproject/ams/services/ingest/internal/snsverify"
	"github.com/amsproject/ams/services/ingest/internal/sources"
)

// ValidateConfig checks the parts of the config only ingest understands:
// every integration's source must be a source type ingest knows, and it
// must have the credential that source authenticates with (and no other,
// which would be a sign of a mix-up). The rest of the file is validated by
// config.Load.
func ValidateConfig(cfg *config.File) error {
	if cfg == nil {
		return errors.New("no configuration")
	}
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	for i, t := range cfg.Tenants {
		for j, in := range t.Integrations {
			key := fmt.Sprintf("tenants[%d].integrations[%d]", i, j)
			if !slices.Contains(sources.Supported(), in.Source) {
				bad(key+".source", "%q is not a supported source (supported: %s)", in.Source, strings.Join(sources.Supported(), ", "))
				continue
			}
			want := sources.Credentials(in.Source)
			have := configured(in)
			if !slices.ContainsFunc(want, func(c sources.Credential) bool { return slices.Contains(have, c) }) {
				bad(key+"."+string(want[0]), "missing: source %s authenticates with %s", in.Source, joinCredentials(want))
			}
			for _, c := range have {
				if !slices.Contains(want, c) {
					bad(key+"."+string(c), "not used by source %s (it takes %s): remove it, or check the source", in.Source, joinCredentials(want))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// configured lists the credential kinds an integration has.
func configured(in config.Integration) []sources.Credential {
	var out []sources.Credential
	for _, c := range []struct {
		kind sources.Credential
		set  bool
	}{
		{sources.Tokens, len(in.Tokens) > 0},
		{sources.RoutingKeys, len(in.RoutingKeys) > 0},
		{sources.SigningSecrets, len(in.SigningSecrets) > 0},
		{sources.TopicARNs, len(in.TopicARNs) > 0},
		{sources.AWSAccount, in.AWS != nil},
	} {
		if c.set {
			out = append(out, c.kind)
		}
	}
	return out
}

func joinCredentials(cs []sources.Credential) string {
	s := make([]string, len(cs))
	for i, c := range cs {
		s[i] = string(c)
	}
	return strings.Join(s, " or ")
}

// integrationsFrom resolves every integration for serving, by name: its
// tenant, parser and authenticator. Pull integrations (awsdx) have neither:
// nothing is posted to them.
func integrationsFrom(cfg *config.File, deps service.Deps) (map[string]*httpapi.Integration, error) {
	var sns *snsverify.Verifier // shared: one certificate cache for every topic
	out := map[string]*httpapi.Integration{}
	for ti, t := range cfg.Tenants {
		for ii, in := range t.Integrations {
			// config.Validate rejects duplicates; New may be handed a config
			// that never went through it, and a duplicate would silently
			// route one tenant's alerts to another.
			if _, dup := out[in.Name]; dup {
				return nil, fmt.Errorf("tenants[%d].integrations[%d].name: %q is already used: integration names are unique across tenants", ti, ii, in.Name)
			}
			p, ok := sources.ForName(in.Source)
			if !ok {
				// A pull source (checked by ValidateConfig): known by name so
				// that a request to it is told why nothing can be posted.
				out[in.Name] = &httpapi.Integration{Name: in.Name, Tenant: t.ID, Source: in.Source}
				continue
			}
			tokens := httpapi.TokenAuth{Secrets: auth.NewSecrets(in.Tokens)}
			var authn httpapi.Authenticator = tokens
			switch in.Source {
			case sources.PagerDuty:
				authn = sigauth.PagerDuty{Secrets: in.SigningSecrets}
			case sources.CloudWatch:
				a := sigauth.SNS{Tokens: tokens}
				if len(in.TopicARNs) > 0 {
					topics, err := snsverify.NewAllowedTopics(in.TopicARNs...)
					if err != nil {
						return nil, fmt.Errorf("tenants[%d].integrations[%d].topic_arns: %w", ti, ii, err)
					}
					if sns == nil {
						if sns, err = snsverify.New(snsverify.Options{Client: deps.Client(), Now: deps.Now}); err != nil {
							return nil, err
						}
					}
					a.Topics, a.Verifier = topics, sns
				}
				authn = a
			}
			out[in.Name] = &httpapi.Integration{Name: in.Name, Tenant: t.ID, Source: in.Source, Parser: p, Auth: authn}
		}
	}
	return out, nil
}

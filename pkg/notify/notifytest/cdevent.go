package notifytest

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sluicedev/sluice/pkg/record"
)

// CDEvent is a CDEvents 0.5.1 service event as its JSON schemas
// (schemas/servicerolledback.json, schemas/servicedeployed.json in cdevents/spec v0.5.1)
// define it: every object closed (additionalProperties false), so decoding with unknown
// fields refused checks the shape.
type CDEvent struct {
	Context struct {
		SpecVersion string    `json:"specversion"`
		ID          string    `json:"id"`
		Source      string    `json:"source"`
		Type        string    `json:"type"`
		Timestamp   time.Time `json:"timestamp"`
		SchemaURI   string    `json:"schemaUri"`
		ChainID     string    `json:"chainId"`
		Links       []any     `json:"links"`
	} `json:"context"`
	Subject struct {
		ID      string `json:"id"`
		Source  string `json:"source"`
		Content struct {
			Environment struct {
				ID     string `json:"id"`
				Source string `json:"source"`
			} `json:"environment"`
			ArtifactID string `json:"artifactId"`
		} `json:"content"`
	} `json:"subject"`
	CustomData            record.Record `json:"customData"`
	CustomDataContentType string        `json:"customDataContentType"`
}

// The two CDEvents types sluice sends, with their versions in CDEvents 0.5.1.
const (
	TypeServiceRolledBack = "dev.cdevents.service.rolledback.0.3.0"
	TypeServiceDeployed   = "dev.cdevents.service.deployed.0.3.0"
)

// check applies the schema's required fields and the CloudEvents binding's rules
// (cloudevents-binding.md): the CloudEvent's id, source and type are the CDEvent's, its
// subject is the CDEvent subject's id.
func (c CDEvent) check(ceType, ceID, ceSource, ceSubject string) error {
	if c.Context.Type != TypeServiceRolledBack && c.Context.Type != TypeServiceDeployed {
		return fmt.Errorf("CDEvent type %q is not one sluice sends", c.Context.Type)
	}
	if c.Context.SpecVersion == "" || c.Context.ID == "" || c.Context.Source == "" || c.Context.Timestamp.IsZero() {
		return errors.New("CDEvent context misses specversion, id, source or timestamp")
	}
	if _, err := url.Parse(c.Context.Source); err != nil {
		return fmt.Errorf("CDEvent source is not a URI reference: %w", err)
	}
	if c.Context.Type != ceType || c.Context.ID != ceID || c.Context.Source != ceSource || c.Subject.ID != ceSubject {
		return fmt.Errorf("CDEvent (type %q id %q source %q subject %q) differs from its CloudEvent (%q %q %q %q)",
			c.Context.Type, c.Context.ID, c.Context.Source, c.Subject.ID, ceType, ceID, ceSource, ceSubject)
	}
	if c.Subject.ID == "" || c.Subject.Content.Environment.ID == "" || c.Subject.Content.ArtifactID == "" {
		return errors.New("CDEvent subject misses id, environment.id or artifactId")
	}
	if !strings.HasPrefix(c.Subject.Content.ArtifactID, "pkg:") {
		return fmt.Errorf("CDEvent artifactId %q is not a package URL", c.Subject.Content.ArtifactID)
	}
	if c.CustomDataContentType != "application/json" {
		return fmt.Errorf("CDEvent customDataContentType %q", c.CustomDataContentType)
	}
	return nil
}

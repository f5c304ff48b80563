package message

import (
	"sort"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/package-url/packageurl-go"

	"github.com/sluicedev/sluice/pkg/record"
)

// CDEvents 0.5 (https://github.com/cdevents/spec, v0.5.1: continuous-deployment.md and
// cloudevents-binding.md) names two of sluice's transitions: a rollback is
// "dev.cdevents.service.rolledback.0.3.0" (a service rolled back to a previous version)
// and a promotion "dev.cdevents.service.deployed.0.3.0" (a new version of a service
// deployed). Its CloudEvents binding says the event data "MUST include the full CDEvents,
// i.e. context, subject and any custom data", with JSON custom data "embedded as is in
// the customData field"; so for these two types the data is a CDEvent whose customData
// is the record, and the CloudEvent's id, source, type, subject and time are the
// CDEvent's.
const (
	cdeventsSpecVersion   = "0.5.1"
	TypeServiceRolledBack = "dev.cdevents.service.rolledback.0.3.0"
	TypeServiceDeployed   = "dev.cdevents.service.deployed.0.3.0"
)

// cdeventTypes are the CDEvents types of the transitions that have one.
var cdeventTypes = map[record.Event]string{
	record.RolledBack: TypeServiceRolledBack,
	record.Promoted:   TypeServiceDeployed,
}

// cdeventSchemas are the schemas the CloudEvent's dataschema names.
var cdeventSchemas = map[string]string{
	TypeServiceRolledBack: "https://cdevents.dev/0.5.1/schema/service-rolledback-event",
	TypeServiceDeployed:   "https://cdevents.dev/0.5.1/schema/service-deployed-event",
}

// CDEvent is a CDEvents service event carrying the record as its custom data.
type CDEvent struct {
	Context               CDContext     `json:"context"`
	Subject               CDSubject     `json:"subject"`
	CustomData            record.Record `json:"customData"`
	CustomDataContentType string        `json:"customDataContentType"`
}

// CDContext is a CDEvent's context.
type CDContext struct {
	SpecVersion string    `json:"specversion"`
	ID          string    `json:"id"`
	Source      string    `json:"source"`
	Type        string    `json:"type"`
	Timestamp   time.Time `json:"timestamp"`
}

// CDSubject is a service subject: id "namespace/service", where it runs and what runs.
type CDSubject struct {
	ID      string    `json:"id"`
	Source  string    `json:"source,omitempty"`
	Content CDService `json:"content"`
}

// CDService is the content of a service subject.
type CDService struct {
	Environment CDEnvironment `json:"environment"`
	// ArtifactID is a package URL: pkg:oci/… for the image that now serves.
	ArtifactID string `json:"artifactId"`
}

// CDEnvironment is where a service runs: "cluster/namespace", or the namespace alone.
type CDEnvironment struct {
	ID     string `json:"id"`
	Source string `json:"source,omitempty"`
}

// cdevent is r as a CDEvent of type typ; r is a machineView, id, source and subject are
// the CloudEvent's (the binding makes them the same).
func cdevent(r record.Record, typ, id, source, subject string, at time.Time) CDEvent {
	env := r.Namespace
	if r.Cluster != "" {
		env = r.Cluster + "/" + r.Namespace
	}
	serving := r.To // promoted: the canary serves
	if r.Event == record.RolledBack {
		serving = r.From
	}
	return CDEvent{
		Context: CDContext{SpecVersion: cdeventsSpecVersion, ID: id, Source: source, Type: typ, Timestamp: at},
		Subject: CDSubject{
			ID:      subject,
			Content: CDService{Environment: CDEnvironment{ID: orText(env, "unknown")}, ArtifactID: artifactID(r.Service, serving)},
		},
		CustomData:            r,
		CustomDataContentType: "application/json",
	}
}

// artifactID is the package URL of what v runs: its first image (in sorted order) as a
// pkg:oci purl (https://github.com/package-url/purl-spec, type oci: the digest as
// version, repository_url and tag as qualifiers), or pkg:generic/SERVICE@SUBSET when no
// image is known.
func artifactID(service string, v record.Version) string {
	images := append([]string(nil), v.Images...)
	sort.Strings(images)
	for _, img := range images {
		if p, ok := ociPurl(img); ok {
			return p
		}
	}
	p := packageurl.NewPackageURL(packageurl.TypeGeneric, "", orText(service, "service"), v.Subset, nil, "")
	return p.ToString()
}

func ociPurl(image string) (string, bool) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return "", false
	}
	repo := ref.Context()
	q := packageurl.Qualifiers{{Key: "repository_url", Value: repo.Name()}}
	version := ""
	switch r := ref.(type) {
	case name.Digest:
		version = r.DigestStr()
	case name.Tag:
		q = append(q, packageurl.Qualifier{Key: "tag", Value: r.TagStr()})
	}
	base := repo.RepositoryStr()
	for i := len(base) - 1; i >= 0; i-- {
		if base[i] == '/' {
			base = base[i+1:]
			break
		}
	}
	return packageurl.NewPackageURL(packageurl.TypeOCI, "", base, version, q, "").ToString(), true
}

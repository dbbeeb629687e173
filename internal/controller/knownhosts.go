package controller

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"

	"github.com/tkgcert/tkgcert/internal/remote"
)

// KnownHostsKey is the Secret's data key holding the known_hosts file.
const KnownHostsKey = "known_hosts"

// DefaultKnownHostsSecret names the Secret config/manager ships.
const DefaultKnownHostsSecret = "tkgcert-known-hosts"

// KnownHostsSecret keeps the controller's known_hosts file in a Secret of
// its own namespace, so that a restart or a new leader does not trust
// every node afresh (accept-new would record whatever key a node, or an
// impostor, presents first). Load copies the Secret into the file the
// dialer uses, Save writes the file back when it changed, with optimistic
// concurrency (resourceVersion). Neither logs or quotes the content.
type KnownHostsSecret struct {
	secrets         corev1client.SecretsGetter
	namespace, name string
	path            string

	mu     sync.Mutex
	loaded bool
	rv     string // the Secret's resourceVersion as last read or written; "" if there is none
	saved  []byte // the file's content as last loaded or saved
}

// NewKnownHostsSecret keeps the known_hosts file at path in the Secret
// namespace/name.
func NewKnownHostsSecret(secrets corev1client.SecretsGetter, namespace, name, path string) *KnownHostsSecret {
	return &KnownHostsSecret{secrets: secrets, namespace: namespace, name: name, path: path}
}

// String names the Secret.
func (s *KnownHostsSecret) String() string { return "Secret " + s.namespace + "/" + s.name }

// Load copies the Secret's known hosts into the file, once: later calls
// do nothing. A missing Secret is an empty one (Save creates it). On an
// error the file is left alone and the next call tries again; no node
// should be dialled meanwhile, or accept-new would trust it afresh.
func (s *KnownHostsSecret) Load(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.load(ctx)
}

func (s *KnownHostsSecret) load(ctx context.Context) error {
	if s.loaded {
		return nil
	}
	sec, err := s.secrets.Secrets(s.namespace).Get(ctx, s.name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		s.rv = ""
	case err != nil:
		return fmt.Errorf("reading the known hosts from %s: %w (the controller needs get and update on it: see config/manager)", s, err)
	default:
		if err := remote.ReplaceKnownHosts(s.path, sec.Data[KnownHostsKey]); err != nil {
			return fmt.Errorf("loading the known hosts of %s: %w", s, err)
		}
		s.rv = sec.ResourceVersion
	}
	data, err := readFileOrEmpty(s.path)
	if err != nil {
		return err
	}
	s.saved, s.loaded = data, true
	return nil
}

// Save writes the file to the Secret if it changed since it was loaded or
// saved, creating the Secret if there is none. If someone else updated the
// Secret meanwhile, the entries of both are kept (the next inventory
// prunes what is stale) and the write is tried again.
func (s *KnownHostsSecret) Save(ctx context.Context) (changed bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.load(ctx); err != nil {
		return false, err
	}
	for attempt := 0; ; attempt++ {
		data, err := readFileOrEmpty(s.path)
		if err != nil {
			return false, err
		}
		if bytes.Equal(data, s.saved) {
			return changed, nil
		}
		err = s.write(ctx, data)
		if apierrors.IsNotFound(err) && s.rv != "" && attempt < 3 {
			s.rv = "" // deleted meanwhile: create it again
			continue
		}
		if err == nil {
			s.saved, changed = data, true
			continue // the file may have changed again meanwhile
		}
		if (!apierrors.IsConflict(err) && !apierrors.IsAlreadyExists(err)) || attempt >= 3 {
			if apierrors.IsForbidden(err) && s.rv == "" {
				return false, fmt.Errorf("creating %s: %w (create it: kubectl create secret generic %s -n %s, as config/manager does)", s, err, s.name, s.namespace)
			}
			return false, fmt.Errorf("saving the known hosts to %s: %w", s, err)
		}
		if err := s.merge(ctx); err != nil {
			return false, err
		}
	}
}

// write creates or updates the Secret with data, at the resourceVersion
// last seen.
func (s *KnownHostsSecret) write(ctx context.Context, data []byte) error {
	api := s.secrets.Secrets(s.namespace)
	if s.rv == "" {
		sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: s.name, Namespace: s.namespace,
			Labels: map[string]string{"app.kubernetes.io/name": "tkgcert"}},
			Type: corev1.SecretTypeOpaque, Data: map[string][]byte{KnownHostsKey: data}}
		created, err := api.Create(ctx, sec, metav1.CreateOptions{FieldManager: EventSource})
		if err != nil {
			return err
		}
		s.rv = created.ResourceVersion
		return nil
	}
	sec, err := api.Get(ctx, s.name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if sec.ResourceVersion != s.rv {
		return apierrors.NewConflict(corev1.Resource("secrets"), s.name, errors.New("changed since it was read"))
	}
	if sec.Data == nil {
		sec.Data = map[string][]byte{}
	}
	sec.Data[KnownHostsKey] = data
	updated, err := api.Update(ctx, sec, metav1.UpdateOptions{FieldManager: EventSource})
	if err != nil {
		return err
	}
	s.rv = updated.ResourceVersion
	return nil
}

// merge adds to the file the entries the Secret has that the file lacks,
// and takes the Secret's resourceVersion.
func (s *KnownHostsSecret) merge(ctx context.Context) error {
	sec, err := s.secrets.Secrets(s.namespace).Get(ctx, s.name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("re-reading %s after a conflict: %w", s, err)
	}
	s.rv = sec.ResourceVersion
	theirs := sec.Data[KnownHostsKey]
	ours, err := readFileOrEmpty(s.path)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, l := range strings.Split(string(ours), "\n") {
		have[l] = true
	}
	merged := strings.TrimSuffix(string(ours), "\n")
	for _, l := range strings.Split(strings.TrimSuffix(string(theirs), "\n"), "\n") {
		if l != "" && !have[l] {
			merged += "\n" + l
			have[l] = true
		}
	}
	if merged != "" {
		merged += "\n"
	}
	// The Secret's content counts as saved: what differs is ours to write.
	s.saved = theirs
	return remote.ReplaceKnownHosts(s.path, []byte(merged))
}

func readFileOrEmpty(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the known_hosts file %s: %w", path, err)
	}
	return b, nil
}

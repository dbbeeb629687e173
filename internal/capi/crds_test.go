package capi

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

func loadOrFatal(t *testing.T, v APIVersion) []*apiextensionsv1.CustomResourceDefinition {
	t.Helper()
	dir, err := ModuleDir(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	crds, err := LoadCRDs(dir, v)
	if err != nil {
		t.Fatal(err)
	}
	return crds
}

func TestLoadCRDsServesExactlyOneVersion(t *testing.T) {
	required := []string{"Cluster", "Machine", "MachineDeployment", "MachineSet", "KubeadmControlPlane", "KubeadmConfig", "KubeadmConfigTemplate", "KubeadmControlPlaneTemplate"}
	for _, v := range Versions {
		t.Run(string(v), func(t *testing.T) {
			crds := loadOrFatal(t, v)
			var kinds []string
			for _, crd := range crds {
				kinds = append(kinds, crd.Spec.Names.Kind)
				if len(crd.Spec.Versions) != 1 {
					t.Errorf("%s serves %d versions, want 1", crd.Name, len(crd.Spec.Versions))
					continue
				}
				got := crd.Spec.Versions[0]
				if got.Name != string(v) || !got.Served || !got.Storage {
					t.Errorf("%s: version %s served=%v storage=%v, want %s served and stored", crd.Name, got.Name, got.Served, got.Storage, v)
				}
				if crd.Spec.Conversion == nil || crd.Spec.Conversion.Strategy != apiextensionsv1.NoneConverter || crd.Spec.Conversion.Webhook != nil {
					t.Errorf("%s: conversion %+v, want strategy None without webhook", crd.Name, crd.Spec.Conversion)
				}
			}
			for _, k := range required {
				if !slices.Contains(kinds, k) {
					t.Errorf("kind %s missing from the %s CRDs (have %v)", k, v, kinds)
				}
			}
		})
	}
	// ExtensionConfig has no v1beta1: it must be left out there, kept in v1beta2.
	has := func(crds []*apiextensionsv1.CustomResourceDefinition, kind string) bool {
		return slices.ContainsFunc(crds, func(c *apiextensionsv1.CustomResourceDefinition) bool { return c.Spec.Names.Kind == kind })
	}
	if has(loadOrFatal(t, V1Beta1), "ExtensionConfig") {
		t.Error("v1beta1 CRDs include ExtensionConfig, which has no v1beta1")
	}
	if !has(loadOrFatal(t, V1Beta2), "ExtensionConfig") {
		t.Error("v1beta2 CRDs lack ExtensionConfig")
	}
}

func TestLoadCRDsRejectsADirectoryWithoutCRDs(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadCRDs(dir, V1Beta1); err == nil {
		t.Fatal("LoadCRDs on an empty directory succeeded")
	}
	// A malformed CRD file is an error naming the file, not a silent skip.
	for _, d := range crdDirs {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, d, "bad.yaml"), []byte("kind: CustomResourceDefinition\nspec: [1, 2\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	_, err := LoadCRDs(dir, V1Beta1)
	if err == nil || !strings.Contains(err.Error(), "bad.yaml") {
		t.Fatalf("LoadCRDs with a malformed file: %v, want an error naming bad.yaml", err)
	}
}

func TestModuleDirHonoursOverride(t *testing.T) {
	t.Setenv(ModuleDirEnv, "/some/where")
	got, err := ModuleDir(context.Background())
	if err != nil || got != "/some/where" {
		t.Fatalf("ModuleDir with %s set = %q, %v", ModuleDirEnv, got, err)
	}
}

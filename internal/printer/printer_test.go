package printer

import (
	"bytes"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

func TestPrintFlags(t *testing.T) {
	for _, tc := range []struct {
		formats       []string
		value         string
		usage, errMsg string
		human         bool
	}{
		{[]string{Table, JSON, YAML}, "table", "Output format: table, json or yaml", "", true},
		{[]string{Table, JSON, YAML}, "", "Output format: table, json or yaml", "", true},
		{[]string{Table, JSON, YAML}, "yaml", "Output format: table, json or yaml", "", false},
		{[]string{Table, JSON, YAML}, "wide", "Output format: table, json or yaml", `unknown output format "wide": use table, json or yaml`, false},
		{[]string{Table, JSON}, "yaml", "Output format: table or json", `unknown output format "yaml": use table or json`, false},
		{[]string{Text, JSON}, "", "Output format: empty for text, or json", "", true},
		{[]string{Text, JSON}, "json", "Output format: empty for text, or json", "", false},
		{[]string{Text, JSON}, "table", "Output format: empty for text, or json", `unknown output format "table": use json, or omit -o for text`, false},
	} {
		f := NewPrintFlags(tc.formats...)
		cmd := &cobra.Command{Use: "x"}
		f.AddFlags(cmd)
		flag := cmd.Flags().Lookup("output")
		if flag == nil || flag.Shorthand != "o" || flag.Usage != tc.usage || flag.DefValue != tc.formats[0] {
			t.Fatalf("%v: flag %+v, want -o with usage %q", tc.formats, flag, tc.usage)
		}
		if err := cmd.Flags().Set("output", tc.value); err != nil {
			t.Fatal(err)
		}
		err := f.Validate()
		if tc.errMsg != "" {
			if err == nil || err.Error() != tc.errMsg {
				t.Errorf("%v -o %q: error %v, want %q", tc.formats, tc.value, err, tc.errMsg)
			}
			continue
		}
		if err != nil {
			t.Errorf("%v -o %q: %v", tc.formats, tc.value, err)
			continue
		}
		if f.Human() != tc.human {
			t.Errorf("%v -o %q: Human %v, want %v", tc.formats, tc.value, f.Human(), tc.human)
		}
		p, err := f.ToPrinter()
		if tc.human != (err != nil) || tc.human != (p == nil) {
			t.Errorf("%v -o %q: ToPrinter %v, %v", tc.formats, tc.value, p, err)
		}
	}
}

func TestHTMLIsTheCommandsPage(t *testing.T) {
	f := NewPrintFlags(Table, JSON, YAML, HTML).withFormat(HTML)
	cmd := &cobra.Command{Use: "x"}
	f.AddFlags(cmd)
	if u := cmd.Flags().Lookup("output").Usage; u != "Output format: table, json, yaml or html" {
		t.Errorf("usage %q", u)
	}
	if err := f.Validate(); err != nil || !f.Page() || f.Human() {
		t.Errorf("-o html: %v, Page %v, Human %v", err, f.Page(), f.Human())
	}
	if p, err := f.ToPrinter(); p != nil || err == nil {
		t.Errorf("-o html has a document printer: %v, %v", p, err)
	}
	if NewPrintFlags(Table, JSON, YAML).withFormat(HTML).Validate() == nil {
		t.Error("-o html accepted by a command without a page")
	}
}

func TestDocuments(t *testing.T) {
	v := struct {
		Name  string `json:"name"`
		Count int    `json:"count,omitempty"`
	}{Name: "a"}
	for format, want := range map[string]string{JSON: "{\n  \"name\": \"a\"\n}\n", YAML: "name: a\n"} {
		p, err := NewPrintFlags(Table, JSON, YAML).withFormat(format).ToPrinter()
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		if err := p.PrintObj(v, &b); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("%s: %q, want %q", format, b.String(), want)
		}
	}
}

func (f *PrintFlags) withFormat(s string) *PrintFlags { f.OutputFormat = s; return f }

func TestNewTable(t *testing.T) {
	var b bytes.Buffer
	tw := NewTable(&b)
	tw.Write([]byte("NAME\tSTATUS\nlonger-name\tOK\n"))
	if err := tw.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "NAME          STATUS\nlonger-name   OK\n"
	if b.String() != want {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), want)
	}
	if strings.Contains(b.String(), "\t") {
		t.Error("tabs left in the table")
	}
}

func TestPrint(t *testing.T) {
	for format, want := range map[string]string{Table: "human\n", JSON: "\"doc\"\n", YAML: "doc\n"} {
		var b bytes.Buffer
		f := NewPrintFlags(Table, JSON, YAML).withFormat(format)
		if err := f.Print(&b, "doc", func() error { b.WriteString("human\n"); return nil }); err != nil {
			t.Fatal(err)
		}
		if b.String() != want {
			t.Errorf("-o %s: %q, want %q", format, b.String(), want)
		}
	}
}

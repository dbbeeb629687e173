// Package printer is tkgcert's output: kubectl-style -o/--output flags that
// pick a document format (json, yaml) or the command's own layout for people
// (a table, or text), and the one tabwriter set-up every table uses.
package printer

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// Output formats. Text is the empty format: a command without a table
// prints text when -o is omitted.
const (
	Table = "table"
	JSON  = "json"
	YAML  = "yaml"
	Text  = ""
	// HTML is a self-contained page, laid out by the command like a table.
	HTML = "html"
)

// NewTable returns the writer of a table: columns padded to line up, three
// spaces apart. Flush it after the last row.
func NewTable(w io.Writer) *tabwriter.Writer {
	return tabwriter.NewWriter(w, 10, 4, 3, ' ', 0)
}

// PrintFlags are a command's -o/--output flag.
type PrintFlags struct {
	// OutputFormat is the flag's value.
	OutputFormat string
	// Formats are the accepted values, the default first.
	Formats []string
}

// NewPrintFlags accepts the given formats; the first is the default.
func NewPrintFlags(formats ...string) *PrintFlags {
	if len(formats) == 0 {
		panic("printer: NewPrintFlags needs at least one format")
	}
	return &PrintFlags{OutputFormat: formats[0], Formats: formats}
}

// AddFlags adds -o/--output to cmd.
func (f *PrintFlags) AddFlags(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&f.OutputFormat, "output", "o", f.OutputFormat, "Output format: "+f.choices())
}

// choices lists the formats in words: "table, json or yaml", or "empty for
// text, or json" when text is one.
func (f *PrintFlags) choices() string {
	named := f.named()
	if f.accepts(Text) {
		return "empty for text, or " + named
	}
	return named
}

// named lists the formats other than text in words.
func (f *PrintFlags) named() string {
	var named []string
	for _, s := range f.Formats {
		if s != Text {
			named = append(named, s)
		}
	}
	switch len(named) {
	case 0:
		return "text"
	case 1:
		return named[0]
	}
	return strings.Join(named[:len(named)-1], ", ") + " or " + named[len(named)-1]
}

// Validate checks the format against the accepted ones; an empty one
// picks the default.
func (f *PrintFlags) Validate() error {
	if f.OutputFormat == "" || f.accepts(f.OutputFormat) {
		return nil
	}
	if f.accepts(Text) {
		return fmt.Errorf("unknown output format %q: use %s, or omit -o for text", f.OutputFormat, f.named())
	}
	return fmt.Errorf("unknown output format %q: use %s", f.OutputFormat, f.named())
}

func (f *PrintFlags) accepts(format string) bool {
	for _, s := range f.Formats {
		if s == format {
			return true
		}
	}
	return false
}

// Format is the chosen format, the default for an empty flag.
func (f *PrintFlags) Format() string {
	if f.OutputFormat == "" {
		return f.Formats[0]
	}
	return f.OutputFormat
}

// Human reports whether the command lays its output out for people itself
// (a table or text) rather than printing a document.
func (f *PrintFlags) Human() bool {
	format := f.Format()
	return format == Table || format == Text
}

// Page reports whether the chosen format is the HTML page, which the
// command lays out itself (Print does not).
func (f *PrintFlags) Page() bool { return f.Format() == HTML }

// Printer writes a value as a document.
type Printer interface {
	PrintObj(v any, w io.Writer) error
}

// PrinterFunc is a function as a Printer.
type PrinterFunc func(v any, w io.Writer) error

// PrintObj calls fn.
func (fn PrinterFunc) PrintObj(v any, w io.Writer) error { return fn(v, w) }

// ToPrinter returns the document printer of the chosen format. The human
// formats have none (each command lays out its own table): check Human
// first.
func (f *PrintFlags) ToPrinter() (Printer, error) {
	if err := f.Validate(); err != nil {
		return nil, err
	}
	switch f.Format() {
	case JSON:
		return PrinterFunc(printJSON), nil
	case YAML:
		return PrinterFunc(printYAML), nil
	}
	return nil, fmt.Errorf("output format %q is laid out by the command, not a document printer", f.Format())
}

// Print writes v as the chosen document, or calls human to lay out the
// table or text. For HTML, check Page first: the page is the command's.
func (f *PrintFlags) Print(w io.Writer, v any, human func() error) error {
	if f.Human() {
		return human()
	}
	p, err := f.ToPrinter()
	if err != nil {
		return err
	}
	return p.PrintObj(v, w)
}

// printJSON writes v as indented JSON.
func printJSON(v any, w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printYAML writes v as YAML (its JSON field names).
func printYAML(v any, w io.Writer) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

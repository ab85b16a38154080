// SPDX-License-Identifier: Apache-2.0
// `zeroseg man --output-dir DIR`: a man page per command, generated from
// the CLI's own command tree as completion is (the build runs it; `cmake
// --install` installs the pages): zeroseg(1), zeroseg-policy(1),
// zeroseg-policy-diff(1), ... as git names its pages.
#include <filesystem>
#include <fstream>

#include "cli/options.h"
#include "common/error.h"

namespace zeroseg::cli {
namespace {

// roff: backslashes doubled, hyphens as \- (what man pages type), and no
// line may start with a control character
std::string roff(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\\') out += "\\e";
    else if (c == '-') out += "\\-";
    else out += c;
  }
  std::string safe;
  bool line_start = true;
  for (char c : out) {
    if (line_start && (c == '.' || c == '\'')) safe += "\\&";
    safe += c;
    line_start = c == '\n';
  }
  return safe;
}

std::string page_name(const std::vector<std::string>& path) {
  std::string n;
  for (const auto& p : path) n += (n.empty() ? "" : "-") + p;
  return n;
}

std::string words(const std::vector<std::string>& path) {
  std::string n;
  for (const auto& p : path) n += (n.empty() ? "" : " ") + p;
  return n;
}

void write_page(const CLI::App& app, const std::vector<std::string>& path, const std::string& version,
                const std::filesystem::path& dir) {
  const std::string name = page_name(path);
  std::ofstream out(dir / (name + ".1"));
  // hidden words (an empty group, as `man` itself) get no page
  auto subs = app.get_subcommands([](const CLI::App* s) { return !s->get_group().empty(); });
  out << ".TH " << roff(name) << " 1 \"\" \"" << roff(version) << "\" \"zeroseg manual\"\n";
  out << ".SH NAME\n" << roff(name) << " \\- " << roff(app.get_description()) << "\n";
  out << ".SH SYNOPSIS\n.B " << roff(words(path)) << "\n";
  for (const CLI::Option* o : app.get_options())
    if (o->get_positional()) out << ".I " << roff(o->get_name()) << "\n";
  if (!subs.empty()) out << ".I COMMAND\n";
  out << "[\\fIOPTIONS\\fR]\n";
  out << ".SH DESCRIPTION\n" << roff(app.get_description()) << ".\n";
  if (!app.get_footer().empty()) out << ".PP\n.nf\n" << roff(app.get_footer()) << "\n.fi\n";
  if (!subs.empty()) {
    out << ".SH COMMANDS\n";
    for (const CLI::App* s : subs) {
      std::vector<std::string> sub_path = path;
      sub_path.push_back(s->get_name());
      out << ".TP\n.B " << roff(s->get_name()) << "\n" << roff(s->get_description()) << " (see \\fB"
          << roff(page_name(sub_path)) << "\\fR(1))\n";
    }
  }
  out << ".SH OPTIONS\n";
  for (const CLI::Option* o : app.get_options()) {
    std::string names;
    auto add = [&](const std::string& dashes, const std::string& n) {
      names += (names.empty() ? "" : ", ") + std::string("\\fB") + dashes + roff(n) + "\\fR";
    };
    for (const auto& s : o->get_snames()) add("\\-", s);
    for (const auto& l : o->get_lnames()) add("\\-\\-", l);
    if (names.empty()) names = "\\fI" + roff(o->get_name()) + "\\fR";
    if (o->get_expected_max() > 0 && !o->get_positional()) names += " \\fI" + roff(o->get_type_name()) + "\\fR";
    std::string text = o->get_description();
    if (!o->get_default_str().empty()) text += " (default: " + o->get_default_str() + ")";
    out << ".TP\n" << names << "\n" << roff(text.empty() ? "(no description)" : text) << "\n";
  }
  out << ".SH SEE ALSO\n";
  if (path.size() > 1) out << "\\fB" << roff(page_name({path.begin(), path.end() - 1})) << "\\fR(1), ";
  out << "the README and docs/ of zeroseg\n";
  if (!out) throw Error((dir / (name + ".1")).string() + ": cannot write");
  for (const CLI::App* s : subs) {
    std::vector<std::string> sub_path = path;
    sub_path.push_back(s->get_name());
    write_page(*s, sub_path, version, dir);
  }
}

}  // namespace

void add_man_command(CLI::App& app, const std::string& version) {
  static std::string dir;
  auto* cmd = app.add_subcommand("man", "Write a man page for every command (a build step: cmake --install "
                                        "installs them)");
  cmd->group("");  // a build step, not a word for people
  cmd->add_option("--output-dir", dir, "Where the pages go")->required();
  cmd->callback([&app, version] {
    namespace fs = std::filesystem;
    fs::create_directories(dir);
    for (const auto& e : fs::directory_iterator(dir))  // pages of words that are gone
      if (e.path().extension() == ".1" && e.path().filename().string().rfind("zeroseg", 0) == 0) fs::remove(e.path());
    write_page(app, {"zeroseg"}, version, dir);
  });
}

}  // namespace zeroseg::cli

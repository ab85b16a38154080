// SPDX-License-Identifier: Apache-2.0
// The CLI's side of `apply -f` and `delete -f`: the files it reads and sends.
#include "cli/client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/error.h"

namespace zeroseg::cli {
namespace {

class ReadDocumentsTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::TempDir() + "zs-cli-" + std::to_string(getpid());
    std::filesystem::remove_all(dir_);
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& bytes) {
    std::string path = dir_ + "/" + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
  }
  static std::string error_of(const std::vector<std::string>& paths) {
    try {
      nlohmann::json docs = read_documents(paths);
      (void)docs.dump();  // what the request does with them
    } catch (const Error& e) {
      return e.what();
    } catch (const std::exception& e) {
      return std::string("not an Error: ") + e.what();
    }
    return "(no error)";
  }
  std::string dir_;
};

TEST_F(ReadDocumentsTest, SendsEachFileByName) {
  std::string a = write("a.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: caf\xc3\xa9}\n");
  nlohmann::json docs = read_documents({a});
  ASSERT_EQ(docs.size(), 1u);
  EXPECT_EQ(docs[0]["name"], a);
  EXPECT_EQ(docs[0]["content"], "apiVersion: v1\nkind: Namespace\nmetadata: {name: caf\xc3\xa9}\n");
}

// Invalid UTF-8 made the JSON library throw when the request was written
// ("[json.exception.type_error.316] invalid UTF-8 byte ..."), naming
// neither the file nor the line; a NUL went to the agent.
TEST_F(ReadDocumentsTest, RefusesInvalidUtf8AndControlCharactersWithFileLineColumn) {
  std::string bad = write("bad.yaml", "apiVersion: v1\nkind: \xad\x9a Namespace\n");
  EXPECT_EQ(error_of({bad}), bad + ":2:7: invalid UTF-8");
  std::string nul = "apiVersion: v1\nkind: Namespace\nmetadata: {name: a";
  nul += '\0';
  nul += "}\n";
  std::string with_nul = write("nul.yaml", nul);
  EXPECT_EQ(error_of({with_nul}), with_nul + ":3:19: control character 0x00 is not allowed in YAML");
  // a directory: the file of the directory that holds it
  std::filesystem::remove(with_nul);
  write("a.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n");
  EXPECT_EQ(error_of({dir_}), bad + ":2:7: invalid UTF-8");
}

}  // namespace
}  // namespace zeroseg::cli

// Hardening (docs/safety.md): outputs never destroy inputs or device files, non-finite
// inputs are refused and never validate, hostile inputs stay within a memory bound, `run`
// stops cleanly on a signal and reports write failures, and messages cannot inject lines.
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "stgcn/npy.h"
#include "test_util.h"

namespace stgcn {
namespace {

namespace fs = std::filesystem;

const std::string kDemo = std::string(STGCN_SOURCE_DIR) + "/models/demo/stgcn_demo.pt";
const std::string kDemoInput = std::string(STGCN_SOURCE_DIR) + "/models/demo/sample_input.npy";
const std::string kTrained =
    std::string(STGCN_SOURCE_DIR) + "/models/trained/stgcn_seed_actions.pt";

// The documented bound on the peak RSS of a command given a hostile input (docs/safety.md).
constexpr long kHostilePeakRssMiB = 1024;

std::string q(const std::string& s) { return "'" + s + "'"; }

// Peak RSS of the largest child process this test has waited for, in MiB.
long children_peak_rss_mib() {
  struct rusage ru;
  getrusage(RUSAGE_CHILDREN, &ru);
  return ru.ru_maxrss / 1024;
}

// Runs a shell command line; the exit code (128 + signal when killed).
int shell(const std::string& line) {
  const int rc = std::system(("bash -c " + q(line) + " >/dev/null 2>&1").c_str());
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : 128 + WTERMSIG(rc);
}

class SafetyCli : public testing::CliTest {
 protected:
  std::string copy(const std::string& from, const std::string& name) {
    fs::copy_file(from, path(name), fs::copy_options::overwrite_existing);
    return path(name);
  }
  // A recorded stream from the dataset generator (150 frames of one action).
  std::string stream() {
    const std::string cmd = std::string("'") + STGCN_PYTHON + "' '" + STGCN_SOURCE_DIR +
                            "/python/make_streams.py' '" + path("s") + "' > /dev/null";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    return path("s/cam0.jsonl");
  }
};

TEST_F(SafetyCli, AnOutputThatIsAnInputIsRefusedAndTheInputKept) {
  const std::string x = copy(kDemoInput, "a.npy"), m = copy(kDemo, "m.pt");
  const std::string x_bytes = testing::slurp(x), m_bytes = testing::slurp(m);
  expect_clean_failure(run("infer " + q(m) + " -i " + q(x) + " -o " + q(x)),
                       "same file as the input");
  expect_clean_failure(run("build " + q(m) + " -o " + q(m)), "same file as the input");
  expect_clean_failure(run("export " + q(m) + " -o " + q(m)), "same file as the input");
  expect_clean_failure(
      run("validate " + q(m) + " --reference " + q(m) + " --data " + q(x) + " --json " + q(x)),
      "same file as the input");
  expect_clean_failure(run("build " + q(m) + " -o " + q(path("e.engine")) +
                           " --precision int8 --calib " + q(x) + " --calib-table " + q(x)),
                       "same file as the input");
  // The same file under another name (a hard link) is the same file.
  fs::create_hard_link(x, path("b.npy"));
  expect_clean_failure(run("infer " + q(m) + " -i " + q(x) + " -o " + q(path("b.npy"))),
                       "same file as the input");
  EXPECT_EQ(testing::slurp(x), x_bytes);
  EXPECT_EQ(testing::slurp(m), m_bytes);
  EXPECT_FALSE(fs::exists(path("e.engine")));
  const std::string s = stream(), s_bytes = testing::slurp(s);
  expect_clean_failure(run("run " + q(kTrained) + " --source " + q(s) + " --out " + q(s)),
                       "same file as the input");
  EXPECT_EQ(testing::slurp(s), s_bytes);
}

TEST_F(SafetyCli, DevicesAreWrittenThroughAndLinksKept) {
  auto r = run("infer " + q(kDemo) + " -i " + q(kDemoInput) + " -o /dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.err;
  struct stat st;
  ASSERT_EQ(::stat("/dev/null", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "/dev/null was replaced";
  expect_clean_failure(run("infer " + q(kDemo) + " -i " + q(kDemoInput) + " -o /dev/full"),
                       "no space left on device");
  ASSERT_EQ(::stat("/dev/full", &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "/dev/full was replaced";
  // A symlink: its target is written, the link stays a link (also to a file not yet there).
  fs::create_symlink(path("target.npy"), path("link.npy"));
  r = run("infer " + q(kDemo) + " -i " + q(kDemoInput) + " -o " + q(path("link.npy")));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(fs::is_symlink(path("link.npy")));
  auto y = read_npy(path("target.npy"));
  ASSERT_TRUE(y.is_ok()) << y.status().message();
  EXPECT_EQ(y->shape, (std::vector<int64_t>{2, 2}));
  // A directory is not an output; nothing is left beside it.
  fs::create_directories(path("dir"));
  expect_clean_failure(run("infer " + q(kDemo) + " -i " + q(kDemoInput) + " -o " + q(path("dir"))),
                       "is a directory");
}

TEST_F(SafetyCli, NonFiniteInputIsRefusedNamingWhereAndNeverValidates) {
  auto x = read_npy(kDemoInput);
  ASSERT_TRUE(x.is_ok());
  const auto& s = x->shape;  // N C T V M
  const int64_t n = 1, c = 0, t = 5, v = 3, m = 0;
  x->data[(((n * s[1] + c) * s[2] + t) * s[3] + v) * s[4] + m] = NAN;
  ASSERT_TRUE(write_npy(path("nan.npy"), *x).is_ok());
  const std::string where = "sample 1, channel 0, frame 5, joint 3, person 0";
  expect_clean_failure(
      run("infer " + q(kDemo) + " -i " + q(path("nan.npy")) + " -o " + q(path("y.npy"))), where);
  expect_clean_failure(run("infer " + q(kDemo) + " --reference -i " + q(path("nan.npy")) + " -o " +
                           q(path("y.npy"))),
                       where);
  EXPECT_FALSE(fs::exists(path("y.npy")));
  auto r = run("build " + q(kDemo) + " -o " + q(path("d.engine")) + " --T " + std::to_string(s[2]) +
               " --M " + std::to_string(s[4]));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_clean_failure(
      run("infer " + q(path("d.engine")) + " -i " + q(path("nan.npy")) + " -o " + q(path("y.npy"))),
      where);
  r = run("validate " + q(path("d.engine")) + " --reference " + q(kDemo) + " --data " +
          q(path("nan.npy")) + " --tolerance 0");
  EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
  EXPECT_EQ(r.out.find("PASS"), std::string::npos) << r.out;
  x->data[0] = INFINITY;
  ASSERT_TRUE(write_npy(path("inf.npy"), *x).is_ok());
  expect_clean_failure(
      run("build " + q(kDemo) + " -o " + q(path("i.engine")) + " --precision int8 --calib " +
          q(path("inf.npy")) + " --T " + std::to_string(s[2])),
      "infinity at sample 0");
}

TEST_F(SafetyCli, HostileInputsAreRefusedWithinTheMemoryBound) {
  // Devices and FIFOs where a size is needed.
  expect_clean_failure(run("infer " + q(kDemo) + " -i /dev/zero -o " + q(path("y.npy"))),
                       "not a regular file");
  expect_clean_failure(run("build " + q(kDemo) + " -o " + q(path("e.engine")) +
                           " --precision int8 --calib /dev/zero"),
                       "not a regular file");
  expect_clean_failure(
      run("run " + q(kTrained) + " --source " + q(stream()) + " --labels /dev/zero"),
      "not a regular file");
  // A 100 GB sparse checkpoint (no disk used): refused before anything is allocated (it
  // used to end in an uncaught std::bad_alloc).
  { std::ofstream f(path("sparse.pt"), std::ios::binary); }
  fs::resize_file(path("sparse.pt"), uint64_t{100} << 30);
  expect_clean_failure(run("inspect " + q(path("sparse.pt"))), "bytes, the limit is");
  expect_clean_failure(
      run("infer " + q(path("sparse.pt")) + " -i " + q(kDemoInput) + " -o " + q(path("y.npy"))),
      "bytes, the limit is");
  // Under the limit but more than the memory the process may have (4 GB; STGCN_MEMORY_LIMIT_MB
  // rather than ulimit -v, which AddressSanitizer's shadow memory cannot run under).
  fs::resize_file(path("sparse.pt"), uint64_t{6} << 30);
  EXPECT_EQ(shell("STGCN_MEMORY_LIMIT_MB=4000 " + std::string(STGCN_CLI_PATH) + " inspect " +
                  q(path("sparse.pt")) + " 2> " + q(path("sparse.txt"))),
            1);
  EXPECT_NE(testing::slurp(path("sparse.txt")).find("MiB of memory available"), std::string::npos)
      << testing::slurp(path("sparse.txt"));
  fs::remove(path("sparse.pt"));
  // An .npy declaring 10^6 samples in a small file: refused from its header.
  {
    std::ofstream f(path("big.npy"), std::ios::binary);
    std::string header =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 3, 300, "
        "18, 2), }";
    header.append(118 - header.size(), ' ');
    header += '\n';
    f << std::string("\x93NUMPY\x01\x00", 8) << static_cast<char>(header.size()) << '\0' << header
      << std::string(1 << 20, '\0');
  }
  expect_clean_failure(
      run("infer " + q(kDemo) + " -i " + q(path("big.npy")) + " -o " + q(path("y.npy"))), "shape");
  // A 100 MB JSONL line: skipped as malformed, never held (the default cap is 1 MiB).
  const std::string s = stream();
  {
    std::ofstream f(path("long.jsonl"), std::ios::binary);
    f << "{\"t\": \"" << std::string(100 << 20, 'x') << "\"}\n" << testing::slurp(s);
  }
  auto r = run("run " + q(kTrained) + " --source " + q(path("long.jsonl")) +
               " --stats-interval 0 --out " + q(path("ev.jsonl")));
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("longer than 1048576 bytes"), std::string::npos) << r.err;
  // An endless line (a device as a JSONL source): skipped piece by piece, and the
  // command ends when the input does (here: a 200 MB prefix of /dev/zero through a pipe).
  EXPECT_EQ(shell("head -c 200000000 /dev/zero | " + std::string(STGCN_CLI_PATH) + " run " +
                  q(kTrained) + " --source - --stats-interval 0"),
            1);
  // A window that needs an 18.7 GB activation arena, on a machine (a memory limit) with
  // 4 GB: refused with what it needs, instead of being OOM-killed later.
  EXPECT_EQ(
      shell("STGCN_MEMORY_LIMIT_MB=4000 " + std::string(STGCN_CLI_PATH) + " build " + q(kTrained) +
            " -o " + q(path("huge.engine")) + " --T 100000 2> " + q(path("huge.txt"))),
      1);
  EXPECT_NE(testing::slurp(path("huge.txt")).find("activation arena per context"),
            std::string::npos)
      << testing::slurp(path("huge.txt"));
  EXPECT_FALSE(fs::exists(path("huge.engine")));
  EXPECT_LT(children_peak_rss_mib(), kHostilePeakRssMiB);
}

TEST_F(SafetyCli, RunWritesWhatItProducedOnSigint) {
  const std::string s = stream();
  // Paced at 30 fps the stream takes 5 s; Ctrl-C after 3 s.
  const int rc = shell(std::string(STGCN_CLI_PATH) + " run " + q(kTrained) + " --source " + q(s) +
                       " --realtime 30 --hop 10 --min-frames 30 --stats-interval 0 " + "--out " +
                       q(path("ev.jsonl")) + " & p=$!; sleep 3; kill -INT $p; wait $p");
  EXPECT_EQ(rc, 130);
  ASSERT_TRUE(fs::exists(path("ev.jsonl")));
  std::ifstream f(path("ev.jsonl"));
  std::string line;
  int events = 0;
  while (std::getline(f, line)) {
    EXPECT_FALSE(nlohmann::json::parse(line, nullptr, false).is_discarded()) << line;
    ++events;
  }
  EXPECT_GE(events, 2);
  for (const auto& e : fs::directory_iterator(dir_))
    EXPECT_EQ(e.path().filename().string().find(".tmp"), std::string::npos) << e.path();
}

TEST_F(SafetyCli, WriteFailuresOnStdoutFail) {
  const std::string s = stream();
  EXPECT_EQ(shell(std::string(STGCN_CLI_PATH) + " run " + q(kTrained) + " --source " + q(s) +
                  " --stats-interval 0 --out - > /dev/full"),
            1);
  EXPECT_EQ(shell(std::string(STGCN_CLI_PATH) + " inspect " + q(kDemo) + " > /dev/full"), 1);
  expect_clean_failure(run("run " + q(kTrained) + " --source " + q(s) + " --quiet --out /dev/full"),
                       "no space left on device");
}

TEST_F(SafetyCli, ControlCharactersInInputAreEscapedInMessages) {
  {
    std::ofstream f(path("evil.jsonl"), std::ios::binary);
    f << "{\"layout\": \"\\u001b[2J\\nstgcn: done\"}\n";
  }
  auto r = run("run " + q(kTrained) + " --source " + q(path("evil.jsonl")) + " --stats-interval 0");
  EXPECT_EQ(r.err.find('\x1b'), std::string::npos) << r.err;
  EXPECT_EQ(r.err.find("\nstgcn: done'"), std::string::npos) << r.err;  // no forged line
  EXPECT_NE(r.err.find("\\x1b[2J\\nstgcn: done"), std::string::npos) << r.err;
}

TEST_F(SafetyCli, ASourceWithoutFramesAndNanConfidenceAreErrors) {
  { std::ofstream f(path("empty.jsonl")); }
  auto r =
      run("run " + q(kTrained) + " --source " + q(path("empty.jsonl")) + " --stats-interval 0");
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("no frames in"), std::string::npos) << r.err;
  expect_clean_failure(
      run("run " + q(kTrained) + " --source " + q(stream()) + " --min-confidence nan"),
      "--min-confidence nan is not a number");
}

}  // namespace
}  // namespace stgcn

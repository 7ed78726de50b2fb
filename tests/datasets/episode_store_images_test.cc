// Camera images and depth maps in episode files: obs/<camera>_image (N,H,W,C) uint8 and
// obs/<camera>_depth (N,H,W,1) float32, written chunked and compressed, read whole or one
// frame at a time, and refused with a message naming the key when malformed.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <H5Cpp.h>

#include <cstring>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>

#include "datasets/episode_store.h"
#include "tests/datasets/test_util.h"

namespace dreamforge::datasets {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;
using ::testing::ThrowsMessage;
using testing_util::AddCamera;
using testing_util::BitwiseEqual;
using testing_util::MakeEpisode;

const nlohmann::json kEnvArgs = {{"env_name", "Lift"}};

// MakeEpisode plus an 84x84 RGB agentview camera with depth and a 24x32 grey wrist camera.
Episode MakeCameraEpisode(int n, uint64_t seed) {
  Episode ep = MakeEpisode(n, seed);
  AddCamera(&ep, "agentview_image", "agentview_depth", 84, 84, 3, seed);
  AddCamera(&ep, "robot0_eye_in_hand_image", "", 24, 32, 1, seed + 1000);
  return ep;
}

class EpisodeStoreImagesTest : public testing_util::ScratchDirTest {
 protected:
  // Episodes of the given lengths (seeds 100, 101, ...), all in train.
  fs::path WriteFile(const std::vector<int>& lengths, const std::string& name = "images.hdf5") {
    const fs::path path = dir_ / name;
    EpisodeWriter writer(path, kEnvArgs);
    for (std::size_t i = 0; i < lengths.size(); ++i) {
      writer.Append(MakeCameraEpisode(lengths[i], 100 + i));
    }
    writer.Close(EpisodeWriter::SplitTrainValid(static_cast<int>(lengths.size()), 0.0).first, {});
    return path;
  }

  // The message of the DatasetError that appending `ep` (after a good first episode) throws.
  std::string AppendError(const Episode& ep) {
    EpisodeWriter writer(dir_ / "bad.hdf5", kEnvArgs);
    writer.Append(MakeCameraEpisode(5, 1));
    try {
      writer.Append(ep);
    } catch (const DatasetError& e) {
      EXPECT_EQ(writer.num_episodes(), 1);  // nothing written
      return e.what();
    }
    return "(accepted)";
  }

  static void Mutate(const fs::path& path, const std::function<void(H5::H5File&)>& edit) {
    H5::H5File file(path.string(), H5F_ACC_RDWR);
    edit(file);
    file.close();
  }

  static std::string OpenError(const fs::path& path) {
    try {
      EpisodeReader reader(path);
    } catch (const DatasetError& e) {
      return e.what();
    }
    return "(accepted)";
  }
};

void ExpectCamerasEqual(const Episode& a, const Episode& b) {
  ASSERT_EQ(a.images.size(), b.images.size());
  for (const auto& [key, im] : a.images) {
    SCOPED_TRACE(key);
    ASSERT_EQ(b.images.count(key), 1u);
    const ImageSeq& other = b.images.at(key);
    EXPECT_EQ(im.height, other.height);
    EXPECT_EQ(im.width, other.width);
    EXPECT_EQ(im.channels, other.channels);
    EXPECT_TRUE(im.data == other.data);
  }
  ASSERT_EQ(a.depths.size(), b.depths.size());
  for (const auto& [key, dm] : a.depths) {
    SCOPED_TRACE(key);
    ASSERT_EQ(b.depths.count(key), 1u);
    const DepthSeq& other = b.depths.at(key);
    EXPECT_EQ(dm.height, other.height);
    EXPECT_EQ(dm.width, other.width);
    EXPECT_TRUE(BitwiseEqual(dm.data, other.data));
  }
}

TEST_F(EpisodeStoreImagesTest, ImagesAndDepthsRoundTripBitwise) {
  // 40 steps: more than one 16-frame chunk, the last one partial.
  const std::vector<int> lengths = {40, 7};
  EpisodeReader reader(WriteFile(lengths));
  using Shapes3 = std::map<std::string, std::array<int, 3>>;
  using Shapes2 = std::map<std::string, std::array<int, 2>>;
  EXPECT_EQ(reader.image_shapes(),
            (Shapes3{{"agentview_image", {84, 84, 3}}, {"robot0_eye_in_hand_image", {24, 32, 1}}}));
  EXPECT_EQ(reader.depth_shapes(), (Shapes2{{"agentview_depth", {84, 84}}}));
  for (int i = 0; i < 2; ++i) {
    SCOPED_TRACE(i);
    const Episode expected = MakeCameraEpisode(lengths[i], 100 + i);
    const Episode ep = reader.ReadEpisode(i);
    ExpectCamerasEqual(ep, expected);
    EXPECT_TRUE(BitwiseEqual(ep.actions, expected.actions));
    EXPECT_TRUE(BitwiseEqual(ep.obs.at("object"), expected.obs.at("object")));
    ExpectCamerasEqual(reader.ReadEpisode(reader.demo_names()[i]), expected);

    const Episode low_dim = reader.ReadEpisode(i, /*with_images=*/false);
    EXPECT_TRUE(low_dim.images.empty());
    EXPECT_TRUE(low_dim.depths.empty());
    EXPECT_TRUE(BitwiseEqual(low_dim.actions, expected.actions));
    EXPECT_EQ(low_dim.obs.size(), 2u);
  }
  EXPECT_THROW(reader.ReadEpisode(2, false), std::out_of_range);
}

TEST_F(EpisodeStoreImagesTest, ObsDimsAndReadSampleLeaveCameraKeysOut) {
  EpisodeReader reader(WriteFile({6, 4}));
  EXPECT_EQ(reader.obs_dims(), (std::map<std::string, int>{{"object", 10}, {"robot0_eef_pos", 3}}));
  std::map<std::string, Eigen::VectorXf> obs;
  Eigen::VectorXf action;
  reader.ReadSample(7, &obs, &action);  // episode 1, step 1
  ASSERT_EQ(obs.size(), 2u);
  const Episode ep = MakeCameraEpisode(4, 101);
  EXPECT_TRUE(obs.at("object") == ep.obs.at("object").row(1).transpose());
  EXPECT_TRUE(action == ep.actions.row(1).transpose());
}

TEST_F(EpisodeStoreImagesTest, ReadImageEqualsTheSliceOfReadEpisode) {
  const std::vector<int> lengths = {40, 7};
  EpisodeReader reader(WriteFile(lengths));
  for (int i : {1, 0}) {
    const Episode ep = reader.ReadEpisode(i);
    for (const auto& [key, im] : ep.images) {
      const std::size_t frame = static_cast<std::size_t>(im.height) * im.width * im.channels;
      std::vector<uint8_t> out(frame);
      // Backwards and across chunk boundaries, interleaved with another key.
      for (int t = lengths[i] - 1; t >= 0; --t) {
        SCOPED_TRACE(key + " step " + std::to_string(t));
        reader.ReadImage(i, t, key, out.data());
        EXPECT_EQ(std::memcmp(out.data(), im.data.data() + t * frame, frame), 0);
        std::vector<uint8_t> other(84 * 84 * 3);
        reader.ReadImage(0, 0, "agentview_image", other.data());
      }
    }
  }
  std::vector<uint8_t> out(84 * 84 * 3);
  EXPECT_THAT([&] { reader.ReadImage(0, 0, "agentview_depth", out.data()); },
              ThrowsMessage<DatasetError>(
                  HasSubstr("/data/demo_0/obs/agentview_depth: no such image key (image keys: "
                            "{agentview_image, robot0_eye_in_hand_image})")));
  EXPECT_THROW(reader.ReadImage(0, 40, "agentview_image", out.data()), std::out_of_range);
  EXPECT_THROW(reader.ReadImage(0, -1, "agentview_image", out.data()), std::out_of_range);
  EXPECT_THROW(reader.ReadImage(2, 0, "agentview_image", out.data()), std::out_of_range);
}

TEST_F(EpisodeStoreImagesTest, CameraKeysAreChunkedAndCompressed) {
  const fs::path path = WriteFile({40, 7});
  H5::H5File file(path.string(), H5F_ACC_RDONLY);
  struct Expected {
    const char* path;
    std::vector<hsize_t> chunk;
  };
  for (const Expected& e :
       {Expected{"/data/demo_0/obs/agentview_image", {16, 84, 84, 3}},
        Expected{"/data/demo_0/obs/agentview_depth", {16, 84, 84, 1}},
        Expected{"/data/demo_0/obs/robot0_eye_in_hand_image", {16, 24, 32, 1}},
        Expected{"/data/demo_1/obs/agentview_image", {7, 84, 84, 3}}}) {  // N < 16
    SCOPED_TRACE(e.path);
    const H5::DSetCreatPropList dcpl = file.openDataSet(e.path).getCreatePlist();
    ASSERT_EQ(dcpl.getLayout(), H5D_CHUNKED);
    std::vector<hsize_t> chunk(4);
    ASSERT_EQ(dcpl.getChunk(4, chunk.data()), 4);
    EXPECT_EQ(chunk, e.chunk);
    ASSERT_EQ(dcpl.getNfilters(), 1);
    unsigned flags = 0;
    std::size_t nelmts = 1;
    unsigned level = 0;
    char name[32];
    unsigned config = 0;
    EXPECT_EQ(dcpl.getFilter(0, flags, nelmts, &level, sizeof(name), name, config),
              H5Z_FILTER_DEFLATE);
    EXPECT_EQ(level, 4u);
  }
  // Low-dimensional keys stay contiguous.
  EXPECT_EQ(file.openDataSet("/data/demo_0/obs/object").getCreatePlist().getLayout(),
            H5D_CONTIGUOUS);
}

TEST_F(EpisodeStoreImagesTest, BadCameraDataIsRejectedNamingTheKey) {
  const std::string d = (dir_ / "bad.hdf5").string() + ": /data/demo_1/obs/";
  Episode ep = MakeCameraEpisode(5, 2);
  ep.images["agentview_image"].data.pop_back();
  EXPECT_EQ(AppendError(ep),
            d + "agentview_image: expected N*H*W*C = 5*84*84*3 = 105840 values, got 105839");

  ep = MakeCameraEpisode(6, 2);  // N from actions; the images hold 5 frames
  ep.images["robot0_eye_in_hand_image"] =
      MakeCameraEpisode(5, 2).images["robot0_eye_in_hand_image"];
  EXPECT_THAT(AppendError(ep),
              HasSubstr(d + "robot0_eye_in_hand_image: expected N*H*W*C = 6*24*32*1"));

  ep = MakeCameraEpisode(5, 2);
  ep.images["agentview_image"].height = 0;
  EXPECT_EQ(AppendError(ep), d + "agentview_image: expected height > 0, width > 0 and 1..4 "
                                 "channels, got (H,W,C) = (0,84,3)");
  ep = MakeCameraEpisode(5, 2);
  ep.images["agentview_image"].channels = 5;
  EXPECT_THAT(AppendError(ep), HasSubstr(d + "agentview_image: expected height > 0"));

  ep = MakeCameraEpisode(5, 2);
  ep.images["agentview"] = ep.images["agentview_image"];
  EXPECT_EQ(AppendError(ep), d + "agentview: image key 'agentview' must be '<camera>_image'");
  ep = MakeCameraEpisode(5, 2);
  ep.depths["agentview_image"] = ep.depths["agentview_depth"];
  EXPECT_THAT(AppendError(ep),
              HasSubstr(d + "agentview_image: depth key 'agentview_image' must be"));
  ep = MakeCameraEpisode(5, 2);
  ep.obs["wrist_image"] = ep.obs["object"];
  ep.next_obs["wrist_image"] = ep.obs["object"];
  EXPECT_THAT(AppendError(ep),
              HasSubstr(d + "wrist_image: low-dimensional obs key 'wrist_image' ends in '_image'"));

  ep = MakeCameraEpisode(5, 2);
  ep.depths["agentview_depth"].data[(2 * 84 + 10) * 84 + 7] =
      std::numeric_limits<float>::infinity();
  EXPECT_EQ(AppendError(ep), d + "agentview_depth: non-finite value inf at index (2,10,7,0)");
  ep = MakeCameraEpisode(5, 2);
  ep.depths["agentview_depth"].width = 83;
  EXPECT_THAT(AppendError(ep), HasSubstr(d + "agentview_depth: expected N*H*W*C = 5*84*83*1"));
}

TEST_F(EpisodeStoreImagesTest, CameraKeysAndShapesMustMatchTheFirstEpisode) {
  const std::string d = (dir_ / "bad.hdf5").string() + ": /data/demo_1/obs";
  Episode ep = MakeCameraEpisode(5, 2);
  ep.images.erase("robot0_eye_in_hand_image");
  EXPECT_EQ(AppendError(ep), d + ": image keys {agentview_image} differ from demo_0's "
                                 "{agentview_image, robot0_eye_in_hand_image}");
  ep = MakeCameraEpisode(5, 2);
  ep.depths.clear();
  EXPECT_EQ(AppendError(ep), d + ": depth keys {} differ from demo_0's {agentview_depth}");
  ep = MakeCameraEpisode(5, 2);
  AddCamera(&ep, "robot0_eye_in_hand_image", "", 24, 32, 3, 7);
  EXPECT_EQ(AppendError(ep), d + "/robot0_eye_in_hand_image: image shape (24,32,3) differs "
                                 "from demo_0's (24,32,1)");
  ep = MakeCameraEpisode(5, 2);
  AddCamera(&ep, "agentview_image", "agentview_depth", 64, 64, 3, 7);
  EXPECT_EQ(AppendError(ep),
            d + "/agentview_image: image shape (64,64,3) differs from demo_0's (84,84,3)");
}

TEST_F(EpisodeStoreImagesTest, MalformedCameraDatasetsAreRefusedOnOpen) {
  const std::string file = (dir_ / "images.hdf5").string();
  auto replace = [&](const std::string& path, const H5::PredType& type,
                     const std::vector<hsize_t>& dims) {
    Mutate(file, [&](H5::H5File& f) {
      if (f.nameExists(path)) f.unlink(path);
      std::size_t count = 1;
      for (hsize_t v : dims) count *= v;
      const std::vector<uint8_t> zeros(count * type.getSize(), 0);
      f.createDataSet(path, type, H5::DataSpace(static_cast<int>(dims.size()), dims.data()))
          .write(zeros.data(), type);
    });
  };
  const std::string image = "/data/demo_0/obs/agentview_image";
  WriteFile({5});
  replace(image, H5::PredType::IEEE_F32LE, {5, 84, 84, 3});
  EXPECT_THAT(OpenError(file), HasSubstr(image + ": expected dtype uint8, got float32"));
  WriteFile({5});
  replace(image, H5::PredType::STD_U8LE, {5, 84, 84});
  EXPECT_THAT(OpenError(file), HasSubstr(image + ": expected shape (N,H,W,C), got (5,84,84)"));
  WriteFile({5});
  replace(image, H5::PredType::STD_U8LE, {5, 8, 8, 5});
  EXPECT_THAT(OpenError(file),
              HasSubstr(image + ": expected shape (N,H,W,C) with C in 1..4, got (5,8,8,5)"));
  WriteFile({5});
  replace(image, H5::PredType::STD_U8LE, {4, 84, 84, 3});
  EXPECT_THAT(OpenError(file), HasSubstr(image + ": num_samples mismatch: dataset has 4 rows"));
  WriteFile({5});
  replace("/data/demo_0/obs/agentview_depth", H5::PredType::IEEE_F32LE, {5, 84, 84, 3});
  EXPECT_THAT(OpenError(file), HasSubstr("/data/demo_0/obs/agentview_depth: expected shape "
                                         "(N,H,W,1), got (5,84,84,3)"));
  WriteFile({5});
  replace("/data/demo_0/next_obs/agentview_image", H5::PredType::STD_U8LE, {5, 84, 84, 3});
  EXPECT_THAT(OpenError(file), HasSubstr("/data/demo_0/next_obs/agentview_image: camera "
                                         "observations are stored under obs/ only"));

  // A NaN depth passes the open (values are not read there) and is reported when read.
  WriteFile({5});
  Mutate(file, [](H5::H5File& f) {
    H5::DataSet ds = f.openDataSet("/data/demo_0/obs/agentview_depth");
    std::vector<float> depth(5 * 84 * 84, 1.0f);
    depth[(3 * 84 + 2) * 84 + 1] = std::numeric_limits<float>::quiet_NaN();
    ds.write(depth.data(), H5::PredType::NATIVE_FLOAT);
  });
  EpisodeReader reader(file);
  EXPECT_NO_THROW(reader.ReadEpisode(0, false));
  EXPECT_THAT([&] { reader.ReadEpisode(0); },
              ThrowsMessage<DatasetError>(HasSubstr(
                  "/data/demo_0/obs/agentview_depth: non-finite value nan at index (3,2,1,0)")));
}

TEST_F(EpisodeStoreImagesTest, CheckSameLayoutComparesCameraKeysAcrossFiles) {
  const EpisodeReader a(WriteFile({3}, "a.hdf5"));
  const EpisodeReader b(WriteFile({4, 2}, "b.hdf5"));
  EXPECT_NO_THROW(a.CheckSameLayout(b));
  const fs::path c_path = dir_ / "c.hdf5";
  {
    EpisodeWriter writer(c_path, kEnvArgs);
    Episode ep = MakeEpisode(3, 5);
    AddCamera(&ep, "agentview_image", "agentview_depth", 64, 64, 3, 5);
    AddCamera(&ep, "robot0_eye_in_hand_image", "", 24, 32, 1, 6);
    writer.Append(ep);
    writer.Close({"demo_0"}, {});
  }
  const EpisodeReader c(c_path);
  EXPECT_THAT([&] { a.CheckSameLayout(c); },
              ThrowsMessage<DatasetError>(
                  HasSubstr(c_path.string() +
                            ": /data/demo_0/obs/agentview_image: image shape (64,64,3) "
                            "differs from " +
                            (dir_ / "a.hdf5").string() + ": demo_0's (84,84,3)")));
  // Files without cameras differ from files with them.
  const fs::path plain = dir_ / "plain.hdf5";
  {
    EpisodeWriter writer(plain, kEnvArgs);
    writer.Append(MakeEpisode(3, 5));
    writer.Close({"demo_0"}, {});
  }
  EXPECT_THAT([&] { EpisodeReader(plain).CheckSameLayout(a); },
              ThrowsMessage<DatasetError>(HasSubstr(": /data/demo_0/obs: image keys")));
}


namespace {
std::string FileBytes(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}
}  // namespace

// Chunks deflated ahead of Append (in worker threads) give the same file as Append alone.
TEST_F(EpisodeStoreImagesTest, DeflatingChunksAheadGivesTheSameBytes) {
  const fs::path plain = WriteFile({40, 7}, "plain.hdf5");
  const fs::path ahead = dir_ / "ahead.hdf5";
  {
    EpisodeWriter writer(ahead, kEnvArgs);
    for (int i = 0; i < 2; ++i) {
      Episode ep = MakeCameraEpisode(i == 0 ? 40 : 7, 100 + i);
      DeflateCameraChunks(&ep);
      EXPECT_EQ(ep.images.at("agentview_image").deflated.size(), i == 0 ? 3u : 1u);  // 16-frame chunks
      writer.Append(ep);
    }
    writer.Close(EpisodeWriter::SplitTrainValid(2, 0.0).first, {});
  }
  EXPECT_TRUE(FileBytes(plain) == FileBytes(ahead));
  // deflated chunks that do not fit the data are ignored, not written
  Episode ep = MakeCameraEpisode(20, 5);
  DeflateCameraChunks(&ep);
  ep.images.at("agentview_image").deflated.pop_back();
  EpisodeWriter writer(dir_ / "short.hdf5", kEnvArgs);
  writer.Append(ep);
  writer.Close({"demo_0"}, {});
  ExpectCamerasEqual(EpisodeReader(dir_ / "short.hdf5").ReadEpisode(0), MakeCameraEpisode(20, 5));
}

// AppendCopy joins files: the episodes read back as written, and the result does not
// depend on how the episodes were spread over the source files.
TEST_F(EpisodeStoreImagesTest, AppendCopyJoinsFilesIndependentlyOfTheirLayout) {
  auto part = [&](const std::string& name, int first, int count) {
    const fs::path path = dir_ / name;
    EpisodeWriter writer(path, kEnvArgs);
    for (int i = first; i < first + count; ++i) writer.Append(MakeCameraEpisode(10 + 7 * i, 100 + i));
    writer.Close(EpisodeWriter::SplitTrainValid(count, 0.0).first, {});
    return path;
  };
  auto join = [&](const std::vector<fs::path>& parts, const std::string& name) {
    const fs::path path = dir_ / name;
    EpisodeWriter writer(path, kEnvArgs);
    for (const fs::path& p : parts) {
      EpisodeReader r(p);
      for (int i = 0; i < r.num_episodes(); ++i) writer.AppendCopy(r, i);
    }
    writer.Close(EpisodeWriter::SplitTrainValid(4, 0.0).first, {});
    return path;
  };
  const fs::path one = join({part("all.hdf5", 0, 4)}, "one.hdf5");
  const fs::path many = join({part("a.hdf5", 0, 1), part("b.hdf5", 1, 2), part("c.hdf5", 3, 1)}, "many.hdf5");
  EXPECT_TRUE(FileBytes(one) == FileBytes(many));
  EpisodeReader r(many);
  ASSERT_EQ(r.num_episodes(), 4);
  for (int i = 0; i < 4; ++i) {
    SCOPED_TRACE(i);
    const Episode expected = MakeCameraEpisode(10 + 7 * i, 100 + i);
    const Episode got = r.ReadEpisode(i);
    ExpectCamerasEqual(got, expected);
    EXPECT_TRUE(BitwiseEqual(got.actions, expected.actions));
    EXPECT_EQ(got.perturbation, expected.perturbation);
  }
  // a source with another camera layout is refused, naming the demo
  Episode other = MakeEpisode(5, 1);
  EpisodeWriter w(dir_ / "lowdim.hdf5", kEnvArgs);
  w.Append(other);
  w.Close({"demo_0"}, {});
  EpisodeWriter writer(dir_ / "mixed.hdf5", kEnvArgs);
  EpisodeReader cams(one), low(dir_ / "lowdim.hdf5");
  writer.AppendCopy(cams, 0);
  EXPECT_THAT([&] { writer.AppendCopy(low, 0); }, ThrowsMessage<DatasetError>(HasSubstr("/data/demo_1")));
  EXPECT_THROW(writer.AppendCopy(cams, 4), std::out_of_range);
}

}  // namespace
}  // namespace dreamforge::datasets

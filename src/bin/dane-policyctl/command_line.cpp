// Command-line parsing shared by the dane-policyctl subcommands (command_line.hpp).
#include "command_line.hpp"

#include <vector>

namespace dane::ctl {

namespace po = boost::program_options;

Expected<po::variables_map> parse_command_line(int argc, char** argv, const po::options_description& visible,
                                               const std::string& positional) {
  po::options_description all;
  all.add(visible);
  po::positional_options_description positions;
  if (!positional.empty()) {
    all.add_options()(positional.c_str(), po::value<std::vector<std::string>>());
    positions.add(positional.c_str(), -1);
  }
  po::variables_map values;
  try {
    po::store(po::command_line_parser(argc, argv).options(all).positional(positions).run(), values);
    po::notify(values);
  } catch (const po::error& e) {
    return make_error(e.what());
  }
  return values;
}

} // namespace dane::ctl
